package image

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"slices"

	"github.com/pierrec/lz4/v4"
)

// maxPrealloc caps the buffer reserved up front for decoding an LZ4 part.
// Honest parts up to this size decode with a single allocation; beyond it
// the buffer grows with the data actually decoded, so a table that lies
// about raw_size costs no more memory than the data really produces.
const maxPrealloc = 64 << 20

// Reader reads an image. NewReader and Open validate the trailer and the
// table completely, so the part list can be trusted; each part's data is
// checked against its digest when it is read. A Reader is safe for
// concurrent use if its io.ReaderAt is (an *os.File is).
type Reader struct {
	r           io.ReaderAt
	size        int64
	path        string // for messages
	runtimeSize int64
	runtimeHash [sha256.Size]byte // from the table, checked by Verify
	parts       []Part
	index       map[string]int // name -> index in parts
}

// NewReader reads the image held in the first size bytes of r. Errors are
// *Error values that match ErrNotImage, ErrVersion, ErrTruncated or
// ErrCorrupt, unless reading r itself failed.
func NewReader(r io.ReaderAt, size int64) (*Reader, error) {
	return newReader(r, size, "")
}

func newReader(ra io.ReaderAt, size int64, path string) (*Reader, error) {
	r := &Reader{r: ra, size: size, path: path}
	if err := r.init(); err != nil {
		return nil, r.wrap("", "open", err)
	}
	return r, nil
}

// wrap turns err into an *Error naming the file, keeping the part name of an
// *Error made deeper down.
func (r *Reader) wrap(part, op string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		e.Path, e.Op = r.path, op
		return e
	}
	return &Error{Path: r.path, Part: part, Op: op, Err: err}
}

// ReadCloser is a Reader on a file opened by Open.
type ReadCloser struct {
	Reader
	f *os.File
}

// Open opens and validates the image file name.
func Open(name string) (*ReadCloser, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, &Error{Path: name, Op: "open", Err: withoutPath(err)}
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, &Error{Path: name, Op: "open", Err: withoutPath(err)}
	}
	r, err := newReader(f, fi.Size(), name)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &ReadCloser{Reader: *r, f: f}, nil
}

// withoutPath drops the *fs.PathError layer, whose path and operation the
// *Error message already gives; errors.Is(err, fs.ErrNotExist) still works.
func withoutPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Close closes the file.
func (rc *ReadCloser) Close() error { return rc.f.Close() }

// HasTrailer reports whether f ends with a smolvm trailer magic. It reads only
// the last TrailerSize bytes, so the runtime can cheaply decide at start-up
// whether its own executable is an image. It does not validate the image: an
// image of another format version also has the magic, and Open reports
// ErrVersion for it rather than treating it as a plain runtime.
func HasTrailer(f *os.File) (bool, error) {
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	return hasTrailer(f, fi.Size())
}

// Classify tells what an executable holds: an image (true), a bare
// runtime (false, nil), or an image that lost its end (false, an *Error
// matching ErrTruncated), so a runtime cut short says so instead of
// claiming it holds no image.
func Classify(f *os.File) (bool, error) {
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	ok, err := hasTrailer(f, fi.Size())
	if ok || err != nil {
		return ok, err
	}
	if end, isELF := elfEnd(f, fi.Size()); isELF && end < fi.Size() {
		return false, &Error{Path: f.Name(), Op: "open", Err: newProblem(ErrTruncated, "file is truncated: %d bytes follow the runtime but the trailer that ends every image is missing", fi.Size()-end)}
	}
	return false, nil
}

// elfEnd returns where the ELF file at the start of r ends: the furthest
// extent of its program headers' segments, its sections and its section
// header table. Anything after it was appended (image data). ok is false
// when r does not start with a 64-bit ELF header, or the file is shorter
// than that extent.
func elfEnd(r io.ReaderAt, size int64) (int64, bool) {
	end, ok := elfExtent(r)
	if !ok || end > uint64(size) {
		return 0, false
	}
	return int64(end), true
}

// Entry sizes of 64-bit ELF tables, and how many entries elfExtent
// reads at most (a Go executable has under ten segments and thirty
// sections): a hostile header cannot make it allocate more.
const (
	elfClass64    = 2 // e_ident[EI_CLASS] ELFCLASS64
	elfLSB        = 1 // e_ident[EI_DATA] ELFDATA2LSB
	elfMSB        = 2 // e_ident[EI_DATA] ELFDATA2MSB
	elfVersion    = 1 // e_ident[EI_VERSION] EV_CURRENT
	elfNoBits     = 8 // sh_type SHT_NOBITS: occupies no file space
	elfPhdrSize   = 56
	elfShdrSize   = 64
	elfMaxEntries = 256
)

// elfExtent parses a 64-bit ELF header and its tables by hand, without
// even debug/elf's constants (importing debug/elf would bring its
// decompressors, or at least their initialisation, into the image
// runtime, whose bytes every image carries uncompressed) and returns the furthest byte they
// describe. ok is false for anything but a well-formed 64-bit ELF header
// (version 1, the standard header and table entry sizes, at most
// elfMaxEntries entries); tables that cannot be read because the file
// ends count as reaching past its end.
func elfExtent(r io.ReaderAt) (uint64, bool) {
	hdr := make([]byte, 64)
	if _, err := r.ReadAt(hdr, 0); err != nil || string(hdr[:4]) != elfMagic ||
		hdr[4] != elfClass64 || hdr[6] != elfVersion {
		return 0, false
	}
	var bo binary.ByteOrder
	switch hdr[5] {
	case elfLSB:
		bo = binary.LittleEndian
	case elfMSB:
		bo = binary.BigEndian
	default:
		return 0, false
	}
	phoff, phent, phnum := bo.Uint64(hdr[32:]), uint64(bo.Uint16(hdr[54:])), uint64(bo.Uint16(hdr[56:]))
	shoff, shent, shnum := bo.Uint64(hdr[40:]), uint64(bo.Uint16(hdr[58:])), uint64(bo.Uint16(hdr[60:]))
	if bo.Uint16(hdr[52:]) != 64 || phnum > elfMaxEntries || shnum > elfMaxEntries ||
		(phnum > 0 && phent != elfPhdrSize) || (shnum > 0 && shent != elfShdrSize) {
		return 0, false
	}
	const past = math.MaxUint64 // "beyond any file"
	var end uint64
	grow := func(off, n uint64) {
		e := off + n
		if e < off {
			e = past
		}
		end = max(end, e)
	}
	table := func(off, entsize, num uint64, each func(e []byte)) {
		if num == 0 {
			return
		}
		grow(off, entsize*num)
		b := make([]byte, entsize*num)
		if _, err := r.ReadAt(b, int64(min(off, math.MaxInt64))); err != nil {
			grow(past, 0)
			return
		}
		for i := uint64(0); i < num; i++ {
			each(b[i*entsize:])
		}
	}
	table(phoff, phent, phnum, func(e []byte) {
		grow(bo.Uint64(e[8:]), bo.Uint64(e[32:])) // p_offset, p_filesz
	})
	table(shoff, shent, shnum, func(e []byte) {
		if bo.Uint32(e[4:]) != elfNoBits {
			grow(bo.Uint64(e[24:]), bo.Uint64(e[32:])) // sh_offset, sh_size
		}
	})
	return end, true
}

func hasTrailer(r io.ReaderAt, size int64) (bool, error) {
	if size < TrailerSize {
		return false, nil
	}
	b := make([]byte, TrailerSize)
	if n, err := r.ReadAt(b, size-TrailerSize); n < len(b) {
		return false, err
	}
	return hasMagic(b), nil
}

// init reads and validates the trailer, the table and every table entry, in
// that order: nothing read from the file is used before it has been checked.
func (r *Reader) init() error {
	if r.size < TrailerSize {
		return newProblem(ErrNotImage, "not a smolvm image (file is %d bytes, too small to hold a trailer)", r.size)
	}
	b, err := r.readAt(r.size-TrailerSize, TrailerSize, "trailer")
	if err != nil {
		return err
	}
	if !hasMagic(b) {
		// A runtime with no trailer after it: an image cut short, after
		// or inside the runtime.
		if end, ok := elfExtent(r.r); ok && end < uint64(r.size) {
			return newProblem(ErrTruncated, "file is truncated: %d bytes follow the runtime but the trailer that ends every image is missing", uint64(r.size)-end)
		} else if ok && end > uint64(r.size) {
			return newProblem(ErrTruncated, "file is truncated: it ends inside the runtime program at its start, after %d bytes; a file cut this short cannot start at all (executing it may crash), copy or build it again", r.size)
		}
		return newProblem(ErrNotImage, "not a smolvm image (no smolvm trailer at the end of the file)")
	}
	t := unmarshalTrailer(b)
	if t.version != FormatVersion {
		return newProblem(ErrVersion, "image format version %d is not supported by this smolvm, which reads version %d", t.version, FormatVersion)
	}
	if t.reserved != 0 {
		return corruptf("trailer: reserved field is %#x, want 0", t.reserved)
	}

	// The table must lie between the runtime and the trailer and end right
	// at the trailer. Compare in uint64 before converting, so huge values
	// cannot overflow.
	dataEnd := uint64(r.size - TrailerSize)
	switch {
	case t.tableSize == 0 || t.tableSize > MaxTableSize:
		return corruptf("trailer: table size %d is out of range (1 to %d bytes)", t.tableSize, MaxTableSize)
	case t.tableOffset > dataEnd || t.tableSize > dataEnd-t.tableOffset:
		return newProblem(ErrTruncated, "file is truncated: its table (offset %d, size %d) extends past the %d bytes before the trailer", t.tableOffset, t.tableSize, dataEnd)
	case t.tableOffset+t.tableSize != dataEnd:
		return corruptf("trailer: unexpected data (%d bytes) between the table and the trailer", dataEnd-t.tableOffset-t.tableSize)
	case t.runtimeSize > t.tableOffset:
		return corruptf("trailer: runtime size %d is past the table offset %d", t.runtimeSize, t.tableOffset)
	case t.runtimeSize < uint64(len(elfMagic)):
		return corruptf("trailer: runtime size %d is too small for an ELF executable", t.runtimeSize)
	}
	r.runtimeSize = int64(t.runtimeSize)
	tableOffset := int64(t.tableOffset)

	head, err := r.readAt(0, int64(len(elfMagic)), "runtime")
	if err != nil {
		return err
	}
	if string(head) != elfMagic {
		return corruptf("runtime is not an ELF executable (no ELF magic at the start of the file)")
	}

	tbl, err := r.readAt(tableOffset, int64(t.tableSize), "table")
	if err != nil {
		return err
	}
	if got := sha256.Sum256(tbl); got != t.tableSHA256 {
		return corruptf("table SHA-256 mismatch (file corrupted or modified): want %s, got %s", short(t.tableSHA256[:]), short(got[:]))
	}
	tb, err := parseTable(tbl)
	if err != nil {
		return err
	}
	if tb.RuntimeSize != r.runtimeSize {
		return corruptf("trailer and table disagree on the runtime size (%d and %d)", r.runtimeSize, tb.RuntimeSize)
	}
	if r.runtimeHash, err = parseDigest(tb.RuntimeSHA256); err != nil {
		return corruptf("table: runtime %w", err)
	}
	if err := r.setParts(tb.Parts, tableOffset); err != nil {
		return err
	}
	return nil
}

// parseTable decodes the table JSON strictly: unknown fields and trailing
// data are errors, since a writer of this format version never produces them.
func parseTable(b []byte) (*table, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var t table
	if err := dec.Decode(&t); err != nil {
		return nil, corruptf("table is not valid JSON for this format: %w", shorten(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, corruptf("table has unexpected data after its JSON")
	}
	if len(t.Parts) > MaxParts {
		return nil, corruptf("table lists %d parts, more than the limit of %d", len(t.Parts), MaxParts)
	}
	return &t, nil
}

// setParts validates each entry against the file's geometry and the others,
// then installs them.
func (r *Reader) setParts(parts []Part, tableOffset int64) error {
	index := make(map[string]int, len(parts))
	for i := range parts {
		p := &parts[i]
		if !validName(p.Name) {
			// The name may be anything, so keep it out of Error.Part.
			return corruptf("table entry %d has an invalid part name %s", i, quote(p.Name))
		}
		if _, dup := index[p.Name]; dup {
			return &Error{Part: p.Name, Err: corruptf("table lists the part twice")}
		}
		index[p.Name] = i
		if err := r.checkPart(p, tableOffset); err != nil {
			return &Error{Part: p.Name, Err: err}
		}
	}

	// Parts may leave gaps (a later writer could align them) but must not
	// share bytes. Sorting by start, then end, puts empty parts first.
	order := make([]*Part, len(parts))
	for i := range parts {
		order[i] = &parts[i]
	}
	slices.SortFunc(order, func(a, b *Part) int {
		return cmp.Or(cmp.Compare(a.Offset, b.Offset), cmp.Compare(a.Size, b.Size))
	})
	for i := 1; i < len(order); i++ {
		prev, p := order[i-1], order[i]
		if prev.Offset+prev.Size > p.Offset {
			return &Error{Part: p.Name, Err: corruptf("data (offset %d, size %d) overlaps part %q (offset %d, size %d)",
				p.Offset, p.Size, prev.Name, prev.Offset, prev.Size)}
		}
	}

	r.parts = parts
	r.index = index
	return nil
}

// checkPart validates one table entry. Checks are ordered so that each one
// can rely on the ones before (no negative values, no overflow).
func (r *Reader) checkPart(p *Part, tableOffset int64) error {
	switch {
	case !p.Encoding.valid():
		return corruptf("unknown encoding %s (want %q, %q or %q)", quote(string(p.Encoding)), Raw, LZ4, Blocks)
	case p.Offset < 0 || p.Size < 0 || p.RawSize < 0:
		return corruptf("negative offset or size in table (offset %d, size %d, raw_size %d)", p.Offset, p.Size, p.RawSize)
	case p.Size > MaxPartSize:
		return corruptf("stored size %d exceeds the limit of %d bytes", p.Size, int64(MaxPartSize))
	case p.RawSize > MaxPartSize:
		return corruptf("decoded size %d exceeds the limit of %d bytes", p.RawSize, int64(MaxPartSize))
	case p.Offset < r.runtimeSize:
		return corruptf("data at offset %d starts inside the runtime (which ends at %d)", p.Offset, r.runtimeSize)
	case p.Offset > r.size-p.Size:
		return newProblem(ErrTruncated, "file is truncated: data (offset %d, size %d) extends past the end of the file (%d bytes)", p.Offset, p.Size, r.size)
	case p.Offset+p.Size > tableOffset:
		return corruptf("data (offset %d, size %d) runs into the table at offset %d", p.Offset, p.Size, tableOffset)
	case p.Encoding == Raw && p.RawSize != p.Size:
		return corruptf("raw data of %d bytes cannot decode to raw_size %d", p.Size, p.RawSize)
	case p.Encoding != Raw && p.RawSize > p.Size*maxLZ4Ratio:
		return corruptf("raw_size %d is impossible for %d bytes of LZ4 data", p.RawSize, p.Size)
	case (p.Encoding == Blocks) != (p.IndexSHA256 != ""):
		return corruptf("index_sha256 goes with encoding %s and only with it", Blocks)
	}
	d, err := parseDigest(p.SHA256)
	if err != nil {
		return corruptf("%w", err)
	}
	p.digest = d
	if p.Encoding == Blocks {
		if p.indexDigest, err = parseDigest(p.IndexSHA256); err != nil {
			return corruptf("index: %w", err)
		}
	}
	return nil
}

// readAt reads exactly n bytes at off. The caller has checked that they lie
// within r.size, so running out of data means the file shrank under us.
func (r *Reader) readAt(off, n int64, what string) ([]byte, error) {
	b := make([]byte, n)
	k, err := r.r.ReadAt(b, off)
	switch {
	case int64(k) == n:
		return b, nil // ReadAt may report io.EOF along with the last byte
	case err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return nil, newProblem(ErrTruncated, "file is truncated: it ended while reading the %s", what)
	default:
		return nil, fmt.Errorf("reading the %s: %w", what, err)
	}
}

// RuntimeSize returns the size of the runtime executable at the start of the
// file, which is also where part data begins.
func (r *Reader) RuntimeSize() int64 { return r.runtimeSize }

// Runtime returns the runtime executable alone, for building a new image
// from this one.
func (r *Reader) Runtime() *io.SectionReader {
	return io.NewSectionReader(r.r, 0, r.runtimeSize)
}

// Parts returns the table entries in table order (the order the writer added
// them).
func (r *Reader) Parts() []Part { return slices.Clone(r.parts) }

// Part returns the table entry for the named part.
func (r *Reader) Part(name string) (Part, bool) {
	i, ok := r.index[name]
	if !ok {
		return Part{}, false
	}
	return r.parts[i], true
}

// ReadPart reads the named part, checks the SHA-256 of its stored bytes and
// returns the decoded data, which is exactly RawSize bytes long.
func (r *Reader) ReadPart(name string) ([]byte, error) {
	i, ok := r.index[name]
	if !ok {
		return nil, r.wrap(name, "read part", ErrNoPart)
	}
	data, err := r.readPart(&r.parts[i])
	if err != nil {
		return nil, r.wrap(name, "read part", err)
	}
	return data, nil
}

func (r *Reader) readPart(p *Part) ([]byte, error) {
	stored, err := r.readAt(p.Offset, p.Size, "part data")
	if err != nil {
		return nil, err
	}
	if got := sha256.Sum256(stored); got != p.digest {
		return nil, corruptf("SHA-256 mismatch (file corrupted or modified): want %s, got %s", short(p.digest[:]), short(got[:]))
	}
	switch p.Encoding {
	case Raw:
		return stored, nil
	case Blocks:
		return decodeBlocks(stored, p)
	}
	return decodeLZ4(stored, p.RawSize)
}

// decodeLZ4 decodes one LZ4 stream that must produce exactly rawSize bytes.
// It never decodes more than rawSize+1 bytes, and reserves memory for at
// most maxPrealloc of them before seeing the data.
func decodeLZ4(stored []byte, rawSize int64) ([]byte, error) {
	zr := lz4.NewReader(bytes.NewReader(stored))
	var out bytes.Buffer
	// MinRead extra so the final read that finds EOF does not grow the
	// buffer (bytes.Buffer.ReadFrom wants that much room before each read).
	out.Grow(int(min(rawSize, maxPrealloc)) + bytes.MinRead)
	if _, err := out.ReadFrom(io.LimitReader(zr, rawSize+1)); err != nil {
		return nil, corruptf("LZ4 data cannot be decoded: %w", err)
	}
	if n := int64(out.Len()); n != rawSize {
		if n > rawSize {
			return nil, corruptf("LZ4 data decodes to more than raw_size %d bytes", rawSize)
		}
		return nil, corruptf("LZ4 data decodes to %d bytes, want raw_size %d", n, rawSize)
	}
	return out.Bytes(), nil
}

// Manifest reads, decodes and validates the "manifest" part.
func (r *Reader) Manifest() (*Manifest, error) {
	i, ok := r.index[ManifestPart]
	if !ok {
		return nil, r.wrap(ManifestPart, "read manifest", ErrNoPart)
	}
	p := &r.parts[i]
	if p.RawSize > MaxManifestSize {
		return nil, r.wrap(ManifestPart, "read manifest",
			corruptf("manifest is %d bytes, more than the limit of %d", p.RawSize, MaxManifestSize))
	}
	data, err := r.readPart(p)
	if err != nil {
		return nil, r.wrap(ManifestPart, "read manifest", err)
	}
	m, err := DecodeManifest(data)
	if err != nil {
		return nil, r.wrap(ManifestPart, "read manifest", corruptf("%w", err))
	}
	return m, nil
}

// Verify checks the runtime's digest, reads every part (checking digests and
// decoding) and the manifest if there is one. Open already validated the
// structure; Verify finds damage in the runtime, which nothing else checks,
// and in part data, which is otherwise found only when the part is read.
func (r *Reader) Verify() error {
	h := sha256.New()
	if _, err := io.Copy(h, r.Runtime()); err != nil {
		return r.wrap("", "verify", fmt.Errorf("reading the runtime: %w", err))
	}
	if got := h.Sum(nil); !bytes.Equal(got, r.runtimeHash[:]) {
		return r.wrap("", "verify", corruptf("runtime SHA-256 mismatch (file corrupted or modified): want %s, got %s", short(r.runtimeHash[:]), short(got)))
	}
	for i := range r.parts {
		if _, err := r.readPart(&r.parts[i]); err != nil {
			return r.wrap(r.parts[i].Name, "verify", err)
		}
	}
	if _, ok := r.index[ManifestPart]; ok {
		if _, err := r.Manifest(); err != nil {
			return err
		}
	}
	return nil
}
