package memory

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// HostAddr is the host virtual address of the region, for
// KVM_SET_USER_MEMORY_REGION. Nothing else should need it.
func (r *Region) HostAddr() uintptr {
	return uintptr(unsafe.Pointer(&r.mem[0]))
}

// mmapOver maps fd at off (or anonymous memory, fd -1) exactly over the
// host memory of b, which must be whole pages of a region.
func mmapOver(b []byte, fd int, off int64, flags int) error {
	_, err := unix.MmapPtr(fd, off, unsafe.Pointer(&b[0]), uintptr(len(b)),
		unix.PROT_READ|unix.PROT_WRITE, flags|unix.MAP_FIXED|unix.MAP_NORESERVE)
	return err
}
