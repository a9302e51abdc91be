package vmm

import (
	"fmt"
	"strings"

	"github.com/smolvm/smolvm/internal/kvm"
)

// GuestError is a guest that stopped in a way the VMM cannot continue
// from. It carries what is needed to diagnose it: the exit reason, what
// it means, and the vCPU's registers.
type GuestError struct {
	VCPU   int
	Reason kvm.ExitReason
	Detail string
	Regs   kvm.Regs
	Sregs  kvm.Sregs
}

func (e *GuestError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "guest stopped on vCPU %d: %v: %s\n", e.VCPU, e.Reason, e.Detail)
	r, s := e.Regs, e.Sregs
	fmt.Fprintf(&b, "  rip=%#016x rsp=%#016x rflags=%#x\n", r.Rip, r.Rsp, r.Rflags)
	fmt.Fprintf(&b, "  rax=%#x rbx=%#x rcx=%#x rdx=%#x rsi=%#x rdi=%#x\n", r.Rax, r.Rbx, r.Rcx, r.Rdx, r.Rsi, r.Rdi)
	fmt.Fprintf(&b, "  cs=%#x (dpl %d, long %d) cr0=%#x cr2=%#x cr3=%#x cr4=%#x efer=%#x",
		s.Cs.Selector, s.Cs.Dpl, s.Cs.L, s.Cr0, s.Cr2, s.Cr3, s.Cr4, s.Efer)
	return b.String()
}

func (m *Machine) guestError(cpu *kvm.VCPU, r kvm.ExitReason, detail string) error {
	e := &GuestError{VCPU: cpu.ID(), Reason: r, Detail: detail}
	e.Regs, _ = cpu.Regs()
	e.Sregs, _ = cpu.Sregs()
	return e
}
