package kvm

import (
	"encoding/binary"
	"fmt"
)

// Offsets into struct kvm_run (x86_64), from <linux/kvm.h>.
const (
	runImmediateExit = 1
	runExitReason    = 8
	runUnion         = 32 // the per-exit-reason union
	runMinSize       = 0x930
)

var le = binary.LittleEndian

// ExitReason is why the last Run returned.
func (c *VCPU) ExitReason() ExitReason {
	return ExitReason(le.Uint32(c.run[runExitReason:]))
}

// SetImmediateExit makes the next (or current, if set from another
// thread before a signal) KVM_RUN return at once with EINTR.
func (c *VCPU) SetImmediateExit(on bool) {
	var v byte
	if on {
		v = 1
	}
	c.run[runImmediateExit] = v
}

// IOExit describes a KVM_EXIT_IO: the guest executed IN or OUT. Data is
// the kvm_run buffer itself: for OUT it holds what the guest wrote, for
// IN the handler fills it.
type IOExit struct {
	Out  bool
	Size int // bytes per access: 1, 2 or 4
	Port uint16
	Data []byte // Size*Count bytes
}

// IO decodes the current I/O exit. It bounds-checks data_offset and count
// against the mapping, though KVM itself sets them.
func (c *VCPU) IO() (IOExit, error) {
	u := c.run[runUnion:]
	size := int(u[1])
	count := int(le.Uint32(u[4:]))
	off := le.Uint64(u[8:])
	n := size * count
	if size != 1 && size != 2 && size != 4 || n <= 0 || off > uint64(len(c.run)) || uint64(n) > uint64(len(c.run))-off {
		return IOExit{}, fmt.Errorf("malformed KVM_EXIT_IO: size %d count %d offset %d", size, count, off)
	}
	return IOExit{
		Out:  u[0] == IOOut,
		Size: size,
		Port: le.Uint16(u[2:]),
		Data: c.run[off : off+uint64(n)],
	}, nil
}

// MMIOExit describes a KVM_EXIT_MMIO: a guest access to an address with
// no memory behind it. Data is the kvm_run buffer (Len bytes).
type MMIOExit struct {
	Addr  uint64
	Write bool
	Data  []byte
}

// MMIO decodes the current MMIO exit.
func (c *VCPU) MMIO() MMIOExit {
	u := c.run[runUnion:]
	n := le.Uint32(u[16:])
	if n > 8 {
		n = 8
	}
	return MMIOExit{Addr: le.Uint64(u[0:]), Write: u[20] != 0, Data: u[8 : 8+n]}
}

// InternalError returns kvm_run.internal: the suberror and its data words.
func (c *VCPU) InternalError() (suberror uint32, data []uint64) {
	u := c.run[runUnion:]
	suberror = le.Uint32(u[0:])
	n := le.Uint32(u[4:])
	if n > 16 {
		n = 16
	}
	for i := uint32(0); i < n; i++ {
		data = append(data, le.Uint64(u[8+8*i:]))
	}
	return suberror, data
}

// SystemEvent returns kvm_run.system_event.type.
func (c *VCPU) SystemEvent() uint32 { return le.Uint32(c.run[runUnion:]) }

// FailEntry returns kvm_run.fail_entry.hardware_entry_failure_reason.
func (c *VCPU) FailEntry() uint64 { return le.Uint64(c.run[runUnion:]) }

// Exception returns kvm_run.ex: the exception vector and error code.
func (c *VCPU) Exception() (vector, errorCode uint32) {
	u := c.run[runUnion:]
	return le.Uint32(u[0:]), le.Uint32(u[4:])
}
