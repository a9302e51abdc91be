package kvm

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// VM is a KVM virtual machine file descriptor.
type VM struct {
	fd      int
	runSize int
}

// Close releases the VM. Its vCPUs must be closed first.
func (vm *VM) Close() error { return unix.Close(vm.fd) }

// SetUserMemoryRegion maps host memory at hostAddr into the guest at
// guestPhys. size and both addresses must be page aligned.
func (vm *VM) SetUserMemoryRegion(slot uint32, guestPhys, size uint64, hostAddr uintptr) error {
	r := UserspaceMemoryRegion{
		Slot:            slot,
		Guest_phys_addr: guestPhys,
		Memory_size:     size,
		Userspace_addr:  uint64(hostAddr),
	}
	return ioctlPtr(vm.fd, "KVM_SET_USER_MEMORY_REGION", ioctlSetUserMemoryRegion, &r)
}

// SetTSSAddr places the three pages Intel VMX needs for real-mode
// emulation; it must not overlap guest RAM or devices.
func (vm *VM) SetTSSAddr(addr uint64) error {
	_, err := ioctl(vm.fd, "KVM_SET_TSS_ADDR", ioctlSetTSSAddr, uintptr(addr))
	return err
}

// SetIdentityMapAddr places the one page Intel VMX uses for its identity
// page table.
func (vm *VM) SetIdentityMapAddr(addr uint64) error {
	return ioctlPtr(vm.fd, "KVM_SET_IDENTITY_MAP_ADDR", ioctlSetIdentityMapAddr, &addr)
}

// CreateIRQChip creates the in-kernel PIC pair, IOAPIC and local APICs.
func (vm *VM) CreateIRQChip() error {
	_, err := ioctl(vm.fd, "KVM_CREATE_IRQCHIP", ioctlCreateIRQChip, 0)
	return err
}

// CreatePIT2 creates the in-kernel i8254 timer (speaker port a dummy).
func (vm *VM) CreatePIT2() error {
	c := PITConfig{Flags: PITSpeakerDummy}
	return ioctlPtr(vm.fd, "KVM_CREATE_PIT2", ioctlCreatePIT2, &c)
}

// IRQLine sets the level of an interrupt line (GSI) of the in-kernel
// irqchip. An edge is a call with true followed by one with false.
func (vm *VM) IRQLine(gsi uint32, high bool) error {
	l := IRQLevel{Irq: gsi}
	if high {
		l.Level = 1
	}
	return ioctlPtr(vm.fd, "KVM_IRQ_LINE", ioctlIRQLine, &l)
}

// IRQFD makes a write to eventfd fd inject an edge on gsi, without a trip
// through this process's vCPU loop.
func (vm *VM) IRQFD(fd int, gsi uint32) error {
	r := IRQFD{Fd: uint32(fd), Gsi: gsi}
	return ioctlPtr(vm.fd, "KVM_IRQFD", ioctlIRQFD, &r)
}

// IOEventFD makes a guest write of length bytes at addr (an MMIO address,
// or an I/O port when pio) signal eventfd fd instead of exiting to us.
// With match set, only a write of the value *match does; others still
// exit.
func (vm *VM) IOEventFD(fd int, addr uint64, length uint32, pio bool, match *uint64) error {
	r := IOEventFD{Addr: addr, Len: length, Fd: int32(fd)}
	if pio {
		r.Flags |= IOEventFDPIO
	}
	if match != nil {
		r.Flags |= IOEventFDDatamatch
		r.Datamatch = *match
	}
	return ioctlPtr(vm.fd, "KVM_IOEVENTFD", ioctlIOEventFD, &r)
}

// CreateVCPU creates vCPU id and maps its kvm_run area.
func (vm *VM) CreateVCPU(id int) (*VCPU, error) {
	r, err := ioctl(vm.fd, "KVM_CREATE_VCPU", ioctlCreateVCPU, uintptr(id))
	if err != nil {
		return nil, err
	}
	fd := int(r)
	run, err := unix.Mmap(fd, 0, vm.runSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mmap kvm_run of vCPU %d: %w", id, err)
	}
	if len(run) < runMinSize {
		unix.Munmap(run)
		unix.Close(fd)
		return nil, fmt.Errorf("kvm_run of vCPU %d is %d bytes, want at least %d", id, len(run), runMinSize)
	}
	return &VCPU{fd: fd, id: id, run: run}, nil
}
