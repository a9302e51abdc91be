package vmm

import (
	"fmt"
	"sort"
)

// PortDevice is a device on the I/O port bus. Offsets are relative to the
// device's first port; data is the access (1, 2 or 4 bytes), filled by
// PortRead.
type PortDevice interface {
	PortRead(off uint16, data []byte)
	PortWrite(off uint16, data []byte)
}

type portRange struct {
	base, n uint16
	dev     PortDevice
}

// PortBus routes port accesses to devices. It is built before the vCPUs
// start and read-only afterwards, so lookups need no lock.
type PortBus struct {
	ranges []portRange // sorted by base, non-overlapping
}

// Add maps dev at ports [base, base+n).
func (b *PortBus) Add(base, n uint16, dev PortDevice) error {
	if n == 0 || uint32(base)+uint32(n) > 0x10000 {
		return fmt.Errorf("port range %#x+%d is invalid", base, n)
	}
	for _, r := range b.ranges {
		if base < r.base+r.n && r.base < base+n {
			return fmt.Errorf("port range %#x+%d overlaps %#x+%d", base, n, r.base, r.n)
		}
	}
	b.ranges = append(b.ranges, portRange{base, n, dev})
	sort.Slice(b.ranges, func(i, j int) bool { return b.ranges[i].base < b.ranges[j].base })
	return nil
}

// find returns the device covering port and the port's offset in it.
func (b *PortBus) find(port uint16) (PortDevice, uint16, bool) {
	i := sort.Search(len(b.ranges), func(i int) bool { return b.ranges[i].base+b.ranges[i].n > port })
	if i < len(b.ranges) && b.ranges[i].base <= port {
		return b.ranges[i].dev, port - b.ranges[i].base, true
	}
	return nil, 0, false
}

// Read performs an IN. A port with no device reads as all ones, as on an
// ISA bus with nothing driving it.
func (b *PortBus) Read(port uint16, data []byte) bool {
	if d, off, ok := b.find(port); ok {
		d.PortRead(off, data)
		return true
	}
	for i := range data {
		data[i] = 0xff
	}
	return false
}

// Write performs an OUT; writes to ports with no device are dropped.
func (b *PortBus) Write(port uint16, data []byte) bool {
	if d, off, ok := b.find(port); ok {
		d.PortWrite(off, data)
		return true
	}
	return false
}
