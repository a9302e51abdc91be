package image

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// Trailer format.
const (
	// Magic opens the trailer. The leading 0x7f (as in ELF's magic) keeps a
	// text file that happens to end in "SMOLVM" from matching; the final
	// newline catches files mangled by text-mode line-ending conversion.
	Magic = "\x7fSMOLVM\n"

	// FormatVersion is the only trailer/table version this package reads
	// and the one it writes. A later format must keep the magic and the
	// version field where they are, so that an old runtime reports
	// ErrVersion instead of ErrNotImage.
	FormatVersion = 1

	// TrailerSize is the size of the trailer at the end of every image:
	// magic, version, reserved, runtime size, table offset, table size,
	// table SHA-256. Untyped, so it mixes with int64 offsets; a test
	// checks it against the encoder.
	TrailerSize = 8 + 4 + 4 + 8 + 8 + 8 + 32 // 72
)

// Limits a reader enforces before it allocates or trusts anything.
const (
	// MaxTableSize caps the JSON table. Real tables are a few hundred bytes.
	MaxTableSize = 1 << 20

	// MaxParts caps the number of parts in the table.
	MaxParts = 256

	// MaxPartSize caps both the stored and the decoded size of one part, so
	// reading a part never allocates more than this, whatever the table says.
	MaxPartSize = 2 << 30

	// MaxNameLen caps the length of a part name.
	MaxNameLen = 64

	// maxLZ4Ratio bounds how much an LZ4 frame can expand: the block format
	// spends at least one byte per 255 bytes of match length, so no valid
	// frame decodes to more than about 255 times its size. A table claiming
	// more is lying, and is refused before any buffer is sized from it.
	maxLZ4Ratio = 256
)

// Names of the parts a bootable image carries. Other names are allowed.
const (
	KernelPart    = "kernel"
	InitramfsPart = "initramfs"
	// RootFSPart, when present, is an EROFS root filesystem stored raw
	// and served to the guest as its first virtio block device. An image
	// with a root filesystem and no initramfs boots straight from it
	// (smol-init is inside it); one with both runs smol-init from the
	// initramfs.
	RootFSPart   = "rootfs"
	ManifestPart = "manifest"
)

// Encoding is how a part's data is stored in the file.
type Encoding string

const (
	// Raw stores the data as is.
	Raw Encoding = "raw"
	// LZ4 stores the data as one LZ4 frame (https://github.com/lz4/lz4/blob/dev/doc/lz4_Frame_format.md).
	LZ4 Encoding = "lz4"
	// Blocks stores the data as independently LZ4-compressed blocks and
	// an index of their digests, for random access with each block
	// checked as it is read (see blocks.go). The table's index_sha256
	// covers the index.
	Blocks Encoding = "blocks"
)

func (e Encoding) valid() bool { return e == Raw || e == LZ4 || e == Blocks }

// Part describes one part of an image, as recorded in the table.
type Part struct {
	Name     string   `json:"name"`
	Offset   int64    `json:"offset"`   // from the start of the file
	Size     int64    `json:"size"`     // stored bytes
	SHA256   string   `json:"sha256"`   // lowercase hex SHA-256 of the stored bytes
	Encoding Encoding `json:"encoding"` // how the stored bytes encode the data
	RawSize  int64    `json:"raw_size"` // size of the decoded data
	// IndexSHA256 is, for Blocks, the SHA-256 of the index and footer
	// (the part's last bytes); empty for other encodings.
	IndexSHA256 string `json:"index_sha256,omitempty"`

	digest      [sha256.Size]byte // SHA256 decoded, set when the table is validated
	indexDigest [sha256.Size]byte // IndexSHA256 decoded
}

// table is the JSON document between the part data and the trailer.
//
// RuntimeSize repeats the trailer's field so that the table digest covers it
// too: a flipped bit there would otherwise go unnoticed, as the runtime size
// is not checked by anything else. RuntimeSHA256 lets Reader.Verify check the
// runtime; opening an image does not, since the runtime reading its own code
// at every boot would cost time and prove little.
type table struct {
	RuntimeSize   int64  `json:"runtime_size"`
	RuntimeSHA256 string `json:"runtime_sha256"`
	Parts         []Part `json:"parts"`
}

// trailer is the fixed-size record at the very end of an image.
type trailer struct {
	version     uint32
	reserved    uint32
	runtimeSize uint64
	tableOffset uint64
	tableSize   uint64
	tableSHA256 [sha256.Size]byte
}

// marshal encodes t in the order documented in the package comment.
func (t *trailer) marshal() []byte {
	b := make([]byte, 0, TrailerSize)
	b = append(b, Magic...)
	b = binary.LittleEndian.AppendUint32(b, t.version)
	b = binary.LittleEndian.AppendUint32(b, t.reserved)
	b = binary.LittleEndian.AppendUint64(b, t.runtimeSize)
	b = binary.LittleEndian.AppendUint64(b, t.tableOffset)
	b = binary.LittleEndian.AppendUint64(b, t.tableSize)
	return append(b, t.tableSHA256[:]...)
}

// hasMagic reports whether b, the last TrailerSize bytes of a file, starts
// with Magic.
func hasMagic(b []byte) bool {
	return len(b) == TrailerSize && string(b[:len(Magic)]) == Magic
}

// unmarshalTrailer decodes b, which must be TrailerSize bytes starting with
// Magic. It does not validate the fields.
func unmarshalTrailer(b []byte) trailer {
	b = b[len(Magic):]
	var t trailer
	t.version = binary.LittleEndian.Uint32(b[0:])
	t.reserved = binary.LittleEndian.Uint32(b[4:])
	t.runtimeSize = binary.LittleEndian.Uint64(b[8:])
	t.tableOffset = binary.LittleEndian.Uint64(b[16:])
	t.tableSize = binary.LittleEndian.Uint64(b[24:])
	copy(t.tableSHA256[:], b[32:])
	return t
}

// elfMagic starts every ELF file; the runtime must be one.
const elfMagic = "\x7fELF"

// validName reports whether name is acceptable as a part name: short, and
// made of characters that read unambiguously in messages and listings.
func validName(name string) bool {
	if name == "" || len(name) > MaxNameLen {
		return false
	}
	for _, c := range []byte(name) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.' || c == '-' || c == '_':
		default:
			return false
		}
	}
	return true
}

// parseDigest decodes a lowercase hex SHA-256 as written by the Writer.
// Uppercase is refused so that each digest has exactly one spelling.
func parseDigest(s string) ([sha256.Size]byte, error) {
	var d [sha256.Size]byte
	if len(s) != hex.EncodedLen(sha256.Size) {
		return d, fmt.Errorf("sha256 %s is not %d hex digits", quote(s), hex.EncodedLen(sha256.Size))
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return d, fmt.Errorf("sha256 %s is not lowercase hex", quote(s))
		}
	}
	_, err := hex.Decode(d[:], []byte(s))
	return d, err
}

// ValidDigest reports whether s is a SHA-256 as the table writes one
// (64 lowercase hex digits): what every part's digest in an opened image
// is, and all a caller naming files after digests may accept.
func ValidDigest(s string) bool {
	_, err := parseDigest(s)
	return err == nil
}

// short abbreviates a digest for messages; a dozen hex digits are plenty to
// tell two digests apart by eye.
func short(d []byte) string {
	return hex.EncodeToString(d[:6]) + "…"
}
