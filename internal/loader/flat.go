package loader

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The flat kernel format is what an image stores: the ELF vmlinux reduced
// to its PVH entry point and loadable segments, so the runtime can stream
// each segment straight into guest memory (decoding it on the way) without
// ever holding the whole ELF file in its heap.
//
//	magic    [8]byte "SMOLKRN1"
//	entry    uint64
//	count    uint32  (segments, at most MaxSegments)
//	reserved uint32
//	count × {paddr, filesz, memsz uint64}
//	the file bytes of each segment, in order
const flatMagic = "SMOLKRN1"

// Segment is one loadable segment of a kernel: Data is copied to Paddr
// and zero-filled up to Memsz.
type Segment struct {
	Paddr, Memsz uint64
	Data         []byte
}

// EncodeFlat writes a flat kernel. It does not validate: package vmlinux
// checks a kernel before it encodes it.
func EncodeFlat(entry uint64, segs []Segment) []byte {
	le := binary.LittleEndian
	hdr := make([]byte, 24+24*len(segs))
	copy(hdr, flatMagic)
	le.PutUint64(hdr[8:], entry)
	le.PutUint32(hdr[16:], uint32(len(segs)))
	for i, s := range segs {
		h := hdr[24+24*i:]
		le.PutUint64(h[0:], s.Paddr)
		le.PutUint64(h[8:], uint64(len(s.Data)))
		le.PutUint64(h[16:], s.Memsz)
	}
	buf := bytes.NewBuffer(hdr)
	for _, s := range segs {
		buf.Write(s.Data)
	}
	return buf.Bytes()
}

// IsFlat reports whether b starts like a flat kernel.
func IsFlat(b []byte) bool { return bytes.HasPrefix(b, []byte(flatMagic)) }

// flatSegment is one entry of a flat kernel's segment table.
type flatSegment struct{ paddr, filesz, memsz uint64 }

// readFlatHeader reads a flat kernel's header and segment table from r,
// leaving r at the first segment's data. Each segment's sizes are checked
// for consistency; addresses are checked by the caller against memory.
func readFlatHeader(r io.Reader) (entry uint64, segs []flatSegment, err error) {
	le := binary.LittleEndian
	var hdr [24]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, fmt.Errorf("flat kernel header: %w", err)
	}
	if !IsFlat(hdr[:]) {
		return 0, nil, errors.New("kernel is not in smolvm's flat format")
	}
	n := le.Uint32(hdr[16:])
	if n == 0 || n > MaxSegments {
		return 0, nil, fmt.Errorf("flat kernel has %d segments, want 1 to %d", n, MaxSegments)
	}
	tbl := make([]byte, 24*n)
	if _, err := io.ReadFull(r, tbl); err != nil {
		return 0, nil, fmt.Errorf("flat kernel segment table: %w", err)
	}
	for i := uint32(0); i < n; i++ {
		t := tbl[24*i:]
		s := flatSegment{le.Uint64(t[0:]), le.Uint64(t[8:]), le.Uint64(t[16:])}
		if s.filesz > s.memsz {
			return 0, nil, fmt.Errorf("kernel segment at %#x: file size %#x exceeds memory size %#x", s.paddr, s.filesz, s.memsz)
		}
		segs = append(segs, s)
	}
	entry = le.Uint64(hdr[8:])
	if entry == 0 {
		return 0, nil, ErrNoPVH
	}
	return entry, segs, nil
}

// LoadFlat reads a flat kernel from r, decoding each segment directly into
// guest memory. Every header value is checked before it is used.
func LoadFlat(mem Memory, r io.Reader) (*Kernel, error) {
	entry, segs, err := readFlatHeader(r)
	if err != nil {
		return nil, err
	}
	k := &Kernel{Entry: entry}
	for _, s := range segs {
		dst, err := mem.Slice(s.paddr, s.memsz)
		if err != nil {
			return nil, fmt.Errorf("kernel segment %#x+%#x does not fit in guest memory (give the VM more memory?): %w", s.paddr, s.memsz, err)
		}
		if _, err := io.ReadFull(r, dst[:s.filesz]); err != nil {
			return nil, fmt.Errorf("kernel segment at %#x: %w", s.paddr, err)
		}
		clear(dst[s.filesz:])
		k.End = max(k.End, s.paddr+s.memsz)
	}
	return k, nil
}
