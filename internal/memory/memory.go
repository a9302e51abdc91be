// Package memory is guest-physical memory: anonymous host mappings placed
// at guest-physical addresses, with bounds-checked access by guest address
// (modelled on rust-vmm vm-memory).
//
// Every address a device or loader uses comes from the guest or from an
// image, so every access goes through Slice, which checks that the whole
// range lies inside one region. Consumers never hold raw host pointers;
// only the VMM asks for a region's host address, to hand it to KVM.
package memory

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ErrOutOfRange is returned (wrapped) for an access outside guest memory.
var ErrOutOfRange = errors.New("guest address out of range")

// Region is one contiguous range of guest RAM.
type Region struct {
	GuestAddr uint64
	mem       []byte
}

// Size is the region's length in bytes.
func (r *Region) Size() uint64 { return uint64(len(r.mem)) }

// End is the first guest address past the region.
func (r *Region) End() uint64 { return r.GuestAddr + r.Size() }

// Memory is a set of non-overlapping regions.
type Memory struct {
	regions []*Region
}

// Range describes a region to create.
type Range struct {
	Addr, Size uint64
}

// New maps anonymous, zeroed host memory for each range. Pages are only
// backed when touched (MAP_NORESERVE), so a guest that uses little costs
// little.
func New(ranges ...Range) (*Memory, error) {
	m := &Memory{}
	for _, rg := range ranges {
		if rg.Size == 0 || rg.Size%uint64(unix.Getpagesize()) != 0 || rg.Addr%uint64(unix.Getpagesize()) != 0 {
			m.Close()
			return nil, fmt.Errorf("memory region %#x+%#x is not page aligned", rg.Addr, rg.Size)
		}
		for _, r := range m.regions {
			if rg.Addr < r.End() && r.GuestAddr < rg.Addr+rg.Size {
				m.Close()
				return nil, fmt.Errorf("memory region %#x+%#x overlaps %#x+%#x", rg.Addr, rg.Size, r.GuestAddr, r.Size())
			}
		}
		b, err := unix.Mmap(-1, 0, int(rg.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("allocate %d MiB of guest memory: %w", rg.Size>>20, err)
		}
		// Huge pages: loading the kernel and initramfs touches ~15 MiB,
		// a few faults instead of thousands (each slow under nested
		// virtualization), and the guest gets 2 MiB mappings. Advice
		// only: where THP is off this changes nothing.
		unix.Madvise(b, unix.MADV_HUGEPAGE)
		m.regions = append(m.regions, &Region{GuestAddr: rg.Addr, mem: b})
	}
	return m, nil
}

// Regions lists the regions in creation order.
func (m *Memory) Regions() []*Region { return m.regions }

// Close unmaps all regions.
func (m *Memory) Close() error {
	for _, r := range m.regions {
		unix.Munmap(r.mem)
	}
	m.regions = nil
	return nil
}

// Slice returns the host bytes behind guest range [addr, addr+n). The range
// must lie within one region; n may be zero. The slice aliases guest
// memory: the guest can change it at any time, so callers copy what they
// validate before they use it.
func (m *Memory) Slice(addr, n uint64) ([]byte, error) {
	for _, r := range m.regions {
		if addr >= r.GuestAddr && addr-r.GuestAddr <= r.Size() && n <= r.Size()-(addr-r.GuestAddr) {
			off := addr - r.GuestAddr
			return r.mem[off : off+n : off+n], nil
		}
	}
	return nil, fmt.Errorf("%w: %#x+%#x", ErrOutOfRange, addr, n)
}

// ReadAt copies guest memory at addr into b.
func (m *Memory) ReadAt(b []byte, addr uint64) error {
	s, err := m.Slice(addr, uint64(len(b)))
	if err != nil {
		return err
	}
	copy(b, s)
	return nil
}

// WriteAt copies b into guest memory at addr.
func (m *Memory) WriteAt(b []byte, addr uint64) error {
	s, err := m.Slice(addr, uint64(len(b)))
	if err != nil {
		return err
	}
	copy(s, b)
	return nil
}

// pageRange checks that [addr, addr+n) is page aligned, non-empty and
// inside one region, and returns its host bytes.
func (m *Memory) pageRange(addr, n uint64) ([]byte, error) {
	ps := uint64(unix.Getpagesize())
	if n == 0 || addr%ps != 0 || n%ps != 0 {
		return nil, fmt.Errorf("guest range %#x+%#x is not whole pages", addr, n)
	}
	return m.Slice(addr, n)
}

// MapFile maps n bytes of f from offset off over guest memory at addr
// (page aligned, inside one region), privately: the guest reads the
// file's pages from the host's page cache and its writes go to copies,
// never to the file. The pages replace whatever memory was there.
func (m *Memory) MapFile(addr, n uint64, f *os.File, off int64) error {
	s, err := m.pageRange(addr, n)
	if err != nil {
		return err
	}
	return mmapOver(s, int(f.Fd()), off, unix.MAP_PRIVATE)
}

// MapZero replaces guest memory at addr (page aligned, inside one region)
// with n bytes of fresh anonymous zero pages, without touching them.
func (m *Memory) MapZero(addr, n uint64) error {
	s, err := m.pageRange(addr, n)
	if err != nil {
		return err
	}
	return mmapOver(s, -1, 0, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
}

// NoHugePages asks the host not to back guest range [addr, addr+n) with
// transparent huge pages (advice; a range outside memory is ignored).
func (m *Memory) NoHugePages(addr, n uint64) {
	if b, err := m.Slice(addr, n); err == nil && n > 0 {
		unix.Madvise(b, unix.MADV_NOHUGEPAGE)
	}
}
