package loader

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// The mapped kernel format is a flat kernel laid out so that each
// segment can be mmap'ed into guest memory: the runtime keeps one per
// kernel in a cache (see package launch) and maps it instead of decoding
// the image's kernel on every start. The guest then reads kernel pages
// straight from the host's page cache, and its writes go to private
// copies; nothing is decoded, copied or hashed before the first KVM_RUN.
//
//	magic    [8]byte "SMOLKRM2" (1 was a layout without the digest)
//	entry    uint64
//	count    uint32  (segments, at most MaxSegments)
//	reserved uint32
//	sha256   [32]byte of everything after the header (VerifyMapped)
//	count × {paddr, filesz, memsz, offset uint64}
//	zeros up to the next page
//	each segment's file bytes at its offset (page aligned), zero-padded
//	to a whole page
const (
	mappedMagic = "SMOLKRM2"
	// mappedTable is where the segment table starts, after the digest.
	mappedTable = 56
	// PageSize is the alignment of mapped segments, in guest memory and
	// in the file: x86's base page.
	PageSize = 4096
)

// Mapper is guest memory that can take file mappings (memory.Memory).
type Mapper interface {
	Memory
	// MapFile maps n bytes of f at off over guest memory at addr,
	// privately (guest writes do not reach the file).
	MapFile(addr, n uint64, f *os.File, off int64) error
	// MapZero replaces guest memory at addr with n fresh zero bytes.
	MapZero(addr, n uint64) error
}

func pageUp(n uint64) uint64 { return (n + PageSize - 1) &^ (PageSize - 1) }

// EncodeMapped reads a flat kernel from r and writes it to f (empty, at
// offset 0) in the mapped format, then reads the data back for the
// header's digest (about 2 ms from the page cache, off the start-up
// path: hashing on the way through, with a tee or a multi-writer, grew
// the runtime by 8 KB, which the 8 MB image target has no room for).
// Every segment must start on a page (Linux's do); the caller reads r
// to its end afterwards if r is a verifying reader.
func EncodeMapped(f *os.File, r io.Reader) error {
	entry, segs, err := readFlatHeader(r)
	if err != nil {
		return err
	}
	le := binary.LittleEndian
	hdr := make([]byte, pageUp(uint64(mappedTable+32*len(segs))))
	copy(hdr, mappedMagic)
	le.PutUint64(hdr[8:], entry)
	le.PutUint32(hdr[16:], uint32(len(segs)))
	off := uint64(len(hdr))
	for i, s := range segs {
		if s.paddr%PageSize != 0 {
			return fmt.Errorf("kernel segment at %#x does not start on a page: it cannot be mapped", s.paddr)
		}
		e := hdr[mappedTable+32*i:]
		le.PutUint64(e[0:], s.paddr)
		le.PutUint64(e[8:], s.filesz)
		le.PutUint64(e[16:], s.memsz)
		le.PutUint64(e[24:], off)
		off += pageUp(s.filesz)
	}
	if _, err := f.Write(hdr); err != nil {
		return err
	}
	var zeros [PageSize]byte
	for _, s := range segs {
		if _, err := io.CopyN(f, r, int64(s.filesz)); err != nil {
			return fmt.Errorf("kernel segment at %#x: %w", s.paddr, err)
		}
		if _, err := f.Write(zeros[:pageUp(s.filesz)-s.filesz]); err != nil {
			return err
		}
	}
	sum, err := dataDigest(f, uint64(len(hdr)))
	if err != nil {
		return err
	}
	_, err = f.WriteAt(sum, 24)
	return err
}

// dataDigest is the SHA-256 of f from off to its end.
func dataDigest(f *os.File, off uint64) ([]byte, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, int64(off), 1<<62)); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// VerifyMapped hashes the data of the mapped kernel in f and compares it
// with the digest its header records: a cache entry damaged after it was
// written (a disk error, a stray write) is found this way.
func VerifyMapped(f *os.File) error {
	var hdr [mappedTable]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return fmt.Errorf("mapped kernel header: %w", err)
	}
	n := binary.LittleEndian.Uint32(hdr[16:])
	if string(hdr[:8]) != mappedMagic || n > MaxSegments {
		return errors.New("not a mapped kernel")
	}
	sum, err := dataDigest(f, pageUp(uint64(mappedTable+32*n)))
	if err != nil {
		return err
	}
	if !bytes.Equal(sum, hdr[24:56]) {
		return errors.New("its data does not match the digest in its header")
	}
	return nil
}

// mappedSegment is a checked entry of a mapped kernel's table.
type mappedSegment struct{ paddr, filesz, memsz, off uint64 }

// readMapped reads and checks a mapped kernel's header against the
// file's size: every segment page aligned in memory and in the file, its
// bytes inside the file, no arithmetic that wraps.
func readMapped(f io.ReaderAt, size int64) (entry uint64, segs []mappedSegment, err error) {
	le := binary.LittleEndian
	var hdr [mappedTable]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return 0, nil, fmt.Errorf("mapped kernel header: %w", err)
	}
	if string(hdr[:8]) != mappedMagic {
		return 0, nil, errors.New("not a mapped kernel")
	}
	n := le.Uint32(hdr[16:])
	if n == 0 || n > MaxSegments {
		return 0, nil, fmt.Errorf("mapped kernel has %d segments, want 1 to %d", n, MaxSegments)
	}
	tbl := make([]byte, 32*n)
	if _, err := f.ReadAt(tbl, mappedTable); err != nil {
		return 0, nil, fmt.Errorf("mapped kernel segment table: %w", err)
	}
	for i := uint32(0); i < n; i++ {
		t := tbl[32*i:]
		s := mappedSegment{le.Uint64(t[0:]), le.Uint64(t[8:]), le.Uint64(t[16:]), le.Uint64(t[24:])}
		switch {
		case s.filesz > s.memsz || s.memsz > 1<<40:
			return 0, nil, fmt.Errorf("mapped kernel segment at %#x: sizes %#x/%#x", s.paddr, s.filesz, s.memsz)
		case s.paddr%PageSize != 0 || s.off%PageSize != 0:
			return 0, nil, fmt.Errorf("mapped kernel segment at %#x (file offset %#x) is not page aligned", s.paddr, s.off)
		case s.off > uint64(size) || pageUp(s.filesz) > uint64(size)-s.off:
			return 0, nil, fmt.Errorf("mapped kernel segment at %#x: file range %#x+%#x is outside the %d-byte file", s.paddr, s.off, s.filesz, size)
		}
		segs = append(segs, s)
	}
	entry = le.Uint64(hdr[8:])
	if entry == 0 {
		return 0, nil, ErrNoPVH
	}
	return entry, segs, nil
}

// CheckMapped reports whether f holds a well-formed mapped kernel.
func CheckMapped(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	_, _, err = readMapped(f, st.Size())
	return err
}

// MapKernel maps the mapped kernel in f into guest memory: each
// segment's file pages privately, the rest of its memory size as fresh
// zero pages. The kernel's range of guest memory must not be in use.
func MapKernel(mem Mapper, f *os.File) (*Kernel, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	entry, segs, err := readMapped(f, st.Size())
	if err != nil {
		return nil, err
	}
	// Check every segment against guest memory before mapping any.
	for _, s := range segs {
		if _, err := mem.Slice(s.paddr, pageUp(s.memsz)); err != nil {
			return nil, fmt.Errorf("kernel segment %#x+%#x does not fit in guest memory (give the VM more memory?): %w", s.paddr, s.memsz, err)
		}
	}
	k := &Kernel{Entry: entry}
	for _, s := range segs {
		mapped := pageUp(s.filesz)
		if mapped > 0 {
			if err := mem.MapFile(s.paddr, mapped, f, int64(s.off)); err != nil {
				return nil, fmt.Errorf("map kernel segment at %#x: %w", s.paddr, err)
			}
		}
		if rest := pageUp(s.memsz) - mapped; rest > 0 {
			if err := mem.MapZero(s.paddr+mapped, rest); err != nil {
				return nil, fmt.Errorf("map kernel segment at %#x: %w", s.paddr, err)
			}
		}
		// The file pads the last page with zeros; make sure of it
		// whatever the file holds (writing makes a private copy of the
		// page, so look first).
		if tail := mapped - s.filesz; tail > 0 {
			if b, _ := mem.Slice(s.paddr+s.filesz, tail); !allZero(b) {
				clear(b)
			}
		}
		k.End = max(k.End, s.paddr+s.memsz)
	}
	return k, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
