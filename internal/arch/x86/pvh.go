package x86

import (
	"encoding/binary"
	"fmt"
)

// E820 memory types, as used in the PVH memory map.
const (
	E820RAM      = 1
	E820Reserved = 2
)

// MemmapEntry mirrors struct hvm_memmap_table_entry.
type MemmapEntry struct {
	Addr, Size uint64
	Type       uint32
}

// hvm_start_info constants (xen/include/public/arch-x86/hvm/start_info.h).
const (
	startInfoMagic   = 0x336ec578
	startInfoVersion = 1
	startInfoSize    = 56
	modlistEntrySize = 32
	memmapEntrySize  = 24
)

// Memmap returns the guest's memory map for ramSize bytes of RAM laid out
// as RAMRanges describes.
func Memmap(ramSize uint64) []MemmapEntry {
	m := []MemmapEntry{
		{Addr: 0, Size: EBDAStart, Type: E820RAM},
		{Addr: EBDAStart, Size: HighMemStart - EBDAStart, Type: E820Reserved},
	}
	for _, r := range RAMRanges(ramSize) {
		start, end := r[0], r[0]+r[1]
		if start < HighMemStart {
			start = HighMemStart
		}
		if end > start {
			m = append(m, MemmapEntry{Addr: start, Size: end - start, Type: E820RAM})
		}
	}
	return m
}

// RAMRanges splits ramSize bytes of guest RAM around the 32-bit MMIO
// gap: [0, min(size, gap)) and, for the rest, [4 GiB, ...). Each element
// is {guest address, size}.
func RAMRanges(ramSize uint64) [][2]uint64 {
	if ramSize <= MMIOGapStart {
		return [][2]uint64{{0, ramSize}}
	}
	return [][2]uint64{{0, MMIOGapStart}, {MMIOGapEnd, ramSize - MMIOGapStart}}
}

// StartInfo is what the VMM tells the kernel at the PVH entry.
type StartInfo struct {
	Cmdline    string
	InitrdAddr uint64 // 0: no initramfs
	InitrdSize uint64
	Memmap     []MemmapEntry
}

// Writer is the part of guest memory the boot structures are written to.
type Writer interface {
	WriteAt(b []byte, addr uint64) error
}

// WriteStartInfo writes hvm_start_info, its module list, memory map and
// the command line at their fixed addresses.
func WriteStartInfo(mem Writer, si StartInfo) error {
	if len(si.Cmdline)+1 > CmdlineMax {
		return fmt.Errorf("kernel command line is %d bytes, the limit is %d", len(si.Cmdline), CmdlineMax-1)
	}
	if len(si.Memmap) > MemmapMaxEntries {
		return fmt.Errorf("memory map has %d entries, the limit is %d", len(si.Memmap), MemmapMaxEntries)
	}
	le := binary.LittleEndian
	if err := mem.WriteAt(append([]byte(si.Cmdline), 0), CmdlineAddr); err != nil {
		return fmt.Errorf("write command line: %w", err)
	}
	mm := make([]byte, memmapEntrySize*len(si.Memmap))
	for i, e := range si.Memmap {
		b := mm[i*memmapEntrySize:]
		le.PutUint64(b[0:], e.Addr)
		le.PutUint64(b[8:], e.Size)
		le.PutUint32(b[16:], e.Type)
	}
	if err := mem.WriteAt(mm, MemmapAddr); err != nil {
		return fmt.Errorf("write memory map: %w", err)
	}
	var nmod uint32
	if si.InitrdSize > 0 {
		mod := make([]byte, modlistEntrySize)
		le.PutUint64(mod[0:], si.InitrdAddr)
		le.PutUint64(mod[8:], si.InitrdSize)
		if err := mem.WriteAt(mod, ModlistAddr); err != nil {
			return fmt.Errorf("write module list: %w", err)
		}
		nmod = 1
	}
	b := make([]byte, startInfoSize)
	le.PutUint32(b[0:], startInfoMagic)
	le.PutUint32(b[4:], startInfoVersion)
	le.PutUint32(b[12:], nmod)
	le.PutUint64(b[16:], ModlistAddr)
	le.PutUint64(b[24:], CmdlineAddr)
	// b[32:40] rsdp_paddr stays 0: no ACPI.
	le.PutUint64(b[40:], MemmapAddr)
	le.PutUint32(b[48:], uint32(len(si.Memmap)))
	if err := mem.WriteAt(b, StartInfoAddr); err != nil {
		return fmt.Errorf("write hvm_start_info: %w", err)
	}
	return nil
}
