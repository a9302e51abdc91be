// Package loader places a Linux kernel and its initramfs in guest memory.
// It knows nothing of vCPUs or devices: it parses, validates and copies,
// and returns where the guest must start (modelled on rust-vmm's
// linux-loader, which keeps loading apart from configuring the machine).
//
// The kernel is in smolvm's flat format (flat.go), which package vmlinux
// makes from an ELF vmlinux at build time, and is booted through its PVH
// entry point. Images are user input, so every header value is checked
// against the guest memory before anything is copied.
package loader

import (
	"errors"
	"fmt"
)

// ErrNoPVH is returned for a kernel without a PVH entry point.
var ErrNoPVH = errors.New("kernel has no PVH entry point (XEN_ELFNOTE_PHYS32_ENTRY); build it with CONFIG_PVH=y")

// MaxSegments bounds the loadable segments of a kernel.
const MaxSegments = 64

// Memory is where the kernel is written: guest memory, bounds-checked.
type Memory interface {
	Slice(addr, n uint64) ([]byte, error)
}

// Kernel is a loaded kernel.
type Kernel struct {
	Entry uint64 // guest-physical PVH entry point
	End   uint64 // first guest-physical address past the kernel image
}

// InitrdAddr returns where an initramfs of size bytes goes: as high as
// possible below top (the end of low RAM), aligned down to align, and
// above kernelEnd.
func InitrdAddr(size, kernelEnd, top, align uint64) (uint64, error) {
	if size > top || (top-size)&^(align-1) < kernelEnd {
		return 0, fmt.Errorf("initramfs of %d MiB does not fit in guest memory above the kernel; give the VM more memory (--memory)", size>>20)
	}
	return (top - size) &^ (align - 1), nil
}
