// Package vmlinux reads an ELF vmlinux at build time: it checks that the
// kernel can boot (64-bit x86, a PVH entry point, segments that fit) and
// converts it to the flat format images store (see loader.LoadFlat).
//
// It is apart from package loader so that the image runtime, which loads
// only flat kernels, does not link debug/elf: its package initialisation
// alone (debug/dwarf, compress/flate, internal/zstd) adds about 15 KB to
// the runtime, and every image carries the runtime uncompressed.
//
// The kernel may come from a user (--kernel), so every header field is
// checked against the file and the guest memory before anything is
// copied.
package vmlinux

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/smolvm/smolvm/internal/loader"
)

// xenElfnotePhys32Entry is XEN_ELFNOTE_PHYS32_ENTRY.
const xenElfnotePhys32Entry = 18

// Load parses an ELF vmlinux and copies its loadable segments to their
// physical addresses in mem, as the flat loader would.
func Load(mem loader.Memory, image []byte) (*loader.Kernel, error) {
	f, err := parse(image)
	if err != nil {
		return nil, err
	}
	k := &loader.Kernel{}
	loads := 0
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_LOAD:
			if err := loadSegment(mem, image, p); err != nil {
				return nil, err
			}
			loads++
			if end := p.Paddr + p.Memsz; end > k.End {
				k.End = end
			}
		case elf.PT_NOTE:
			if k.Entry != 0 {
				continue
			}
			if p.Off > uint64(len(image)) || p.Filesz > uint64(len(image))-p.Off {
				return nil, fmt.Errorf("kernel note segment at %#x+%#x is outside the file", p.Off, p.Filesz)
			}
			if e, ok := pvhEntry(image[p.Off:p.Off+p.Filesz], f.ByteOrder); ok {
				k.Entry = e
			}
		}
	}
	if loads == 0 {
		return nil, errors.New("kernel has no loadable (PT_LOAD) segment")
	}
	if k.Entry == 0 {
		return nil, loader.ErrNoPVH
	}
	return k, nil
}

// parse opens image as a 64-bit x86 ELF file, explaining the usual
// mistakes (a bzImage, not a kernel at all).
func parse(image []byte) (*elf.File, error) {
	if len(image) >= 4 && string(image[:4]) != elf.ELFMAG {
		if len(image) > 0x202+4 && string(image[0x202:0x206]) == "HdrS" {
			return nil, errors.New("kernel is a bzImage; smolvm boots an uncompressed ELF vmlinux (the compressed kernel would decompress itself inside the guest, which is very slow where guest kernel code is emulated)")
		}
		return nil, errors.New("kernel is not an ELF file (want an uncompressed vmlinux)")
	}
	f, err := elf.NewFile(bytes.NewReader(image))
	if err != nil {
		return nil, fmt.Errorf("parse kernel ELF: %w", err)
	}
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 {
		return nil, fmt.Errorf("kernel is %v %v, want a 64-bit x86-64 vmlinux", f.Class, f.Machine)
	}
	if len(f.Progs) > loader.MaxSegments {
		return nil, fmt.Errorf("kernel has %d program headers, more than %d", len(f.Progs), loader.MaxSegments)
	}
	return f, nil
}

func loadSegment(mem loader.Memory, image []byte, p *elf.Prog) error {
	if p.Filesz > p.Memsz {
		return fmt.Errorf("kernel segment at %#x: file size %#x exceeds memory size %#x", p.Paddr, p.Filesz, p.Memsz)
	}
	if p.Off > uint64(len(image)) || p.Filesz > uint64(len(image))-p.Off {
		return fmt.Errorf("kernel segment at %#x: file range %#x+%#x is outside the %d-byte file (truncated kernel?)", p.Paddr, p.Off, p.Filesz, len(image))
	}
	dst, err := mem.Slice(p.Paddr, p.Memsz)
	if err != nil {
		return fmt.Errorf("kernel segment %#x+%#x does not fit in guest memory (give the VM more memory?): %w", p.Paddr, p.Memsz, err)
	}
	n := copy(dst, image[p.Off:p.Off+p.Filesz])
	clear(dst[n:])
	return nil
}

// pvhEntry finds XEN_ELFNOTE_PHYS32_ENTRY in a note segment. The entry
// is 4 bytes, or 8 in kernels that emit it with _ASM_PTR.
func pvhEntry(notes []byte, bo binary.ByteOrder) (uint64, bool) {
	r := bytes.NewReader(notes)
	for {
		var h struct{ Namesz, Descsz, Type uint32 }
		if err := binary.Read(r, bo, &h); err != nil {
			return 0, false
		}
		// Sizes come from the file: check them before allocating.
		if align4(h.Namesz)+align4(h.Descsz) > uint64(r.Len()) {
			return 0, false
		}
		name := make([]byte, align4(h.Namesz))
		desc := make([]byte, align4(h.Descsz))
		io.ReadFull(r, name)
		io.ReadFull(r, desc)
		if h.Type == xenElfnotePhys32Entry && bytes.Equal(bytes.TrimRight(name, "\x00"), []byte("Xen")) {
			switch {
			case h.Descsz >= 8:
				return bo.Uint64(desc), true
			case h.Descsz >= 4:
				return uint64(bo.Uint32(desc)), true
			}
		}
	}
}

func align4(n uint32) uint64 { return (uint64(n) + 3) &^ 3 }

// discard is a Memory that accepts any range without keeping it, so that
// Check can run the full validation of Load without guest memory.
type discard struct{ buf []byte }

func (d *discard) Slice(addr, n uint64) ([]byte, error) {
	if n > 1<<30 {
		return nil, fmt.Errorf("segment of %d bytes is implausibly large", n)
	}
	if uint64(cap(d.buf)) < n {
		d.buf = make([]byte, n)
	}
	return d.buf[:n], nil
}

// Check validates a kernel the way Load would, without a VM: the builder
// calls it so a bad --kernel fails at build time, not at boot.
func Check(image []byte) error {
	_, err := Load(&discard{}, image)
	return err
}

// Flatten converts an ELF vmlinux (checked as Load would) into the flat
// format loader.LoadFlat reads.
func Flatten(image []byte) ([]byte, error) {
	if err := Check(image); err != nil {
		return nil, err
	}
	f, err := parse(image)
	if err != nil {
		return nil, err
	}
	var segs []loader.Segment
	var entry uint64
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_LOAD:
			segs = append(segs, loader.Segment{Paddr: p.Paddr, Memsz: p.Memsz, Data: image[p.Off : p.Off+p.Filesz]})
		case elf.PT_NOTE:
			if e, ok := pvhEntry(image[p.Off:p.Off+p.Filesz], f.ByteOrder); ok && entry == 0 {
				entry = e
			}
		}
	}
	return loader.EncodeFlat(entry, segs), nil
}
