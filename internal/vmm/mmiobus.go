package vmm

import (
	"fmt"
	"sort"
)

// MMIODevice is a device on the MMIO bus; offsets are relative to its
// window.
type MMIODevice interface {
	Read(off uint64, data []byte)
	Write(off uint64, data []byte)
}

type mmioRange struct {
	base, size uint64
	dev        MMIODevice
}

// MMIOBus routes guest accesses to addresses without memory. Built
// before the vCPUs start, read-only afterwards.
type MMIOBus struct {
	ranges []mmioRange
}

// Add maps dev at [base, base+size).
func (b *MMIOBus) Add(base, size uint64, dev MMIODevice) error {
	if size == 0 || base+size < base {
		return fmt.Errorf("MMIO range %#x+%#x is invalid", base, size)
	}
	for _, r := range b.ranges {
		if base < r.base+r.size && r.base < base+size {
			return fmt.Errorf("MMIO range %#x+%#x overlaps %#x+%#x", base, size, r.base, r.size)
		}
	}
	b.ranges = append(b.ranges, mmioRange{base, size, dev})
	sort.Slice(b.ranges, func(i, j int) bool { return b.ranges[i].base < b.ranges[j].base })
	return nil
}

func (b *MMIOBus) find(addr uint64) (MMIODevice, uint64, bool) {
	i := sort.Search(len(b.ranges), func(i int) bool { return b.ranges[i].base+b.ranges[i].size > addr })
	if i < len(b.ranges) && b.ranges[i].base <= addr {
		return b.ranges[i].dev, addr - b.ranges[i].base, true
	}
	return nil, 0, false
}

// Read performs a guest read; unclaimed addresses read as all ones.
func (b *MMIOBus) Read(addr uint64, data []byte) {
	if d, off, ok := b.find(addr); ok {
		d.Read(off, data)
		return
	}
	for i := range data {
		data[i] = 0xff
	}
}

// Write performs a guest write; writes to unclaimed addresses are dropped.
func (b *MMIOBus) Write(addr uint64, data []byte) {
	if d, off, ok := b.find(addr); ok {
		d.Write(off, data)
	}
}
