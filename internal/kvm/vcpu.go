package kvm

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// VCPU is a virtual CPU and its shared kvm_run area. A VCPU must only be
// run from one goroutine, locked to its OS thread (KVM ties a vCPU to the
// thread that runs it for performance, and signals target threads).
type VCPU struct {
	fd  int
	id  int
	run []byte // the mmap'ed struct kvm_run
}

// ID is the vCPU index (and its APIC ID).
func (c *VCPU) ID() int { return c.id }

// Close unmaps kvm_run and closes the vCPU.
func (c *VCPU) Close() error {
	unix.Munmap(c.run)
	return unix.Close(c.fd)
}

// Run enters the guest until the next exit that needs this process.
// EINTR (a signal arrived) is reported as a nil error with ExitIntr, so
// the caller's loop can check for a stop request.
func (c *VCPU) Run() error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(c.fd), ioctlRun, 0)
	switch errno {
	case 0:
		return nil
	case unix.EINTR, unix.EAGAIN:
		binary.LittleEndian.PutUint32(c.run[runExitReason:], uint32(ExitIntr))
		return nil
	default:
		return fmt.Errorf("KVM_RUN on vCPU %d: %w", c.id, errno)
	}
}

// Regs returns the general-purpose registers.
func (c *VCPU) Regs() (Regs, error) {
	var r Regs
	err := ioctlPtr(c.fd, "KVM_GET_REGS", ioctlGetRegs, &r)
	return r, err
}

// SetRegs sets the general-purpose registers.
func (c *VCPU) SetRegs(r Regs) error {
	return ioctlPtr(c.fd, "KVM_SET_REGS", ioctlSetRegs, &r)
}

// Sregs returns the special registers (segments, control registers).
func (c *VCPU) Sregs() (Sregs, error) {
	var s Sregs
	err := ioctlPtr(c.fd, "KVM_GET_SREGS", ioctlGetSregs, &s)
	return s, err
}

// SetSregs sets the special registers.
func (c *VCPU) SetSregs(s Sregs) error {
	return ioctlPtr(c.fd, "KVM_SET_SREGS", ioctlSetSregs, &s)
}

// FPU returns the legacy FPU/SSE state.
func (c *VCPU) FPU() (FPU, error) {
	var f FPU
	err := ioctlPtr(c.fd, "KVM_GET_FPU", ioctlGetFPU, &f)
	return f, err
}

// SetFPU sets the legacy FPU/SSE state.
func (c *VCPU) SetFPU(f FPU) error {
	return ioctlPtr(c.fd, "KVM_SET_FPU", ioctlSetFPU, &f)
}

// LAPIC returns the local APIC register page.
func (c *VCPU) LAPIC() (LAPICState, error) {
	var l LAPICState
	err := ioctlPtr(c.fd, "KVM_GET_LAPIC", ioctlGetLAPIC, &l)
	return l, err
}

// SetLAPIC sets the local APIC register page.
func (c *VCPU) SetLAPIC(l LAPICState) error {
	return ioctlPtr(c.fd, "KVM_SET_LAPIC", ioctlSetLAPIC, &l)
}

// SetCPUID2 sets what CPUID reports to the guest.
func (c *VCPU) SetCPUID2(entries []CPUIDEntry2) error {
	esz := sizeOf[CPUIDEntry2]()
	buf := make([]byte, 8+len(entries)*esz)
	binary.LittleEndian.PutUint32(buf, uint32(len(entries)))
	for i := range entries {
		copy(buf[8+i*esz:], asBytes(&entries[i]))
	}
	_, err := ioctlBuf(c.fd, "KVM_SET_CPUID2", ioctlSetCPUID2, buf)
	return err
}

// SetMSRs writes model-specific registers. KVM reports how many it set;
// fewer than asked is an error naming the first one refused.
func (c *VCPU) SetMSRs(entries []MSREntry) error {
	if len(entries) == 0 {
		return nil
	}
	buf := msrBuf(entries)
	n, err := ioctlBuf(c.fd, "KVM_SET_MSRS", ioctlSetMSRs, buf)
	if err != nil {
		return err
	}
	if int(n) != len(entries) {
		return fmt.Errorf("KVM_SET_MSRS: set %d of %d, MSR %#x refused", n, len(entries), entries[n].Index)
	}
	return nil
}

// MSRs reads the MSRs named by indices.
func (c *VCPU) MSRs(indices ...uint32) ([]MSREntry, error) {
	entries := make([]MSREntry, len(indices))
	for i, idx := range indices {
		entries[i].Index = idx
	}
	buf := msrBuf(entries)
	n, err := ioctlBuf(c.fd, "KVM_GET_MSRS", ioctlGetMSRs, buf)
	if err != nil {
		return nil, err
	}
	esz := sizeOf[MSREntry]()
	out := make([]MSREntry, n)
	for i := range out {
		out[i] = fromBytes[MSREntry](buf[8+i*esz:])
	}
	return out, nil
}

func msrBuf(entries []MSREntry) []byte {
	esz := sizeOf[MSREntry]()
	buf := make([]byte, 8+len(entries)*esz)
	binary.LittleEndian.PutUint32(buf, uint32(len(entries)))
	for i := range entries {
		copy(buf[8+i*esz:], asBytes(&entries[i]))
	}
	return buf
}
