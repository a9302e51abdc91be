package memory

import "unsafe"

// HostAddr is the host virtual address of the region, for
// KVM_SET_USER_MEMORY_REGION. Nothing else should need it.
func (r *Region) HostAddr() uintptr {
	return uintptr(unsafe.Pointer(&r.mem[0]))
}
