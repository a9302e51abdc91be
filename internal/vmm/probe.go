package vmm

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/smolvm/smolvm/internal/arch/x86"
	"github.com/smolvm/smolvm/internal/kvm"
	"github.com/smolvm/smolvm/internal/memory"
)

// Probe results. Some nested KVMs run guest user code natively but
// emulate every guest kernel (CPL 0) instruction, about a thousand times
// slower, and their emulator lacks instructions Linux uses. We detect
// such a host by timing a short CPL-0 loop and only then add
// CompatCmdline; on a normal host the probe costs tens of microseconds.
const (
	probeShortLoop = 1
	probeLongLoop  = 128
	probeRepeats   = 3
	// emulatedThreshold: a native loop iteration takes under a
	// nanosecond, an emulated one over a microsecond.
	emulatedThreshold = 50 * time.Nanosecond
	// probeSureFactor: a first measurement this many times over the
	// threshold needs no repeats.
	probeSureFactor = 10
)

// ProbeResult is what the emulation probe measured.
type ProbeResult struct {
	PerIteration time.Duration // time of one dec/jnz iteration at CPL 0
	Emulated     bool
}

func (p ProbeResult) String() string {
	mode := "native"
	if p.Emulated {
		mode = "emulated (nested KVM without hardware-assisted guest kernel mode)"
	}
	return fmt.Sprintf("guest kernel mode: %s, %v per loop iteration", mode, p.PerIteration)
}

// probeCode is, in 64-bit mode:
//
//	mov ecx, N ; 1: dec ecx ; jnz 1b ; mov dx, ControlPortProbe ; out dx, al ; 2: jmp 2b
//
// It must run in long mode with paging: on the hosts in question 32-bit
// code without paging runs natively even at CPL 0.
func probeCode(n uint32) []byte {
	b := []byte{0xb9, 0, 0, 0, 0, 0xff, 0xc9, 0x75, 0xfc, 0x66, 0xba, 0, 0, 0xee, 0xeb, 0xfe}
	binary.LittleEndian.PutUint32(b[1:], n)
	binary.LittleEndian.PutUint16(b[11:], x86.ControlPortProbe)
	return b
}

// probe runs the loop twice on cpu (which must be fresh, with the boot
// GDT in memory) and derives the per-iteration cost from the difference,
// which cancels the cost of entering and leaving the guest.
func probe(cpu *kvm.VCPU, mem writer) (ProbeResult, error) {
	sregs, err := cpu.Sregs()
	if err != nil {
		return ProbeResult{}, err
	}
	if err := mem.WriteAt(x86.LongModeTables(), x86.ProbePageTables); err != nil {
		return ProbeResult{}, err
	}
	if err := cpu.SetSregs(x86.LongModeSregs(sregs)); err != nil {
		return ProbeResult{}, err
	}
	run := func(n uint32) (time.Duration, error) {
		if err := mem.WriteAt(probeCode(n), x86.ProbeCodeAddr); err != nil {
			return 0, err
		}
		if err := cpu.SetRegs(kvm.Regs{Rip: x86.ProbeCodeAddr, Rflags: 2}); err != nil {
			return 0, err
		}
		start := time.Now()
		for i := 0; i < 10; i++ { // a few spurious exits (signals) are fine
			if err := cpu.Run(); err != nil {
				return 0, err
			}
			if cpu.ExitReason() == kvm.ExitIntr {
				continue
			}
			if cpu.ExitReason() != kvm.ExitIO {
				return 0, fmt.Errorf("emulation probe: unexpected %v", cpu.ExitReason())
			}
			return time.Since(start), nil
		}
		return 0, fmt.Errorf("emulation probe did not finish")
	}
	// The first entry pays one-time costs (faulting in guest memory,
	// building the host's page tables for the guest), which can exceed
	// the whole long loop and would make the difference negative: a
	// warm-up run absorbs them, and the minimum of a few runs of each
	// length discards interruptions by the host.
	if _, err := run(probeShortLoop); err != nil {
		return ProbeResult{}, err
	}
	//
	// A first pair far over the threshold settles it: an interruption
	// can only make a native host look emulated, which costs a slower
	// guest, never a broken one; it takes 64 µs in the long run here.
	short, long := time.Duration(1<<62), time.Duration(1<<62)
	var per time.Duration
	for i := 0; i < probeRepeats; i++ {
		s, err := run(probeShortLoop)
		if err != nil {
			return ProbeResult{}, err
		}
		l, err := run(probeLongLoop)
		if err != nil {
			return ProbeResult{}, err
		}
		short, long = min(short, s), min(long, l)
		per = max(0, (long-short)/(probeLongLoop-probeShortLoop))
		if per > probeSureFactor*emulatedThreshold {
			break
		}
	}
	return ProbeResult{PerIteration: per, Emulated: per > emulatedThreshold}, nil
}

type writer interface {
	WriteAt(b []byte, addr uint64) error
}

// ProbeHost creates a minimal VM just to run the emulation probe, for
// diagnostics (`smolvm doctor`).
func ProbeHost() (ProbeResult, error) {
	sys, err := kvm.Open()
	if err != nil {
		return ProbeResult{}, err
	}
	defer sys.Close()
	vm, err := sys.CreateVM()
	if err != nil {
		return ProbeResult{}, err
	}
	defer vm.Close()
	mem, err := memory.New(memory.Range{Addr: 0, Size: 1 << 20})
	if err != nil {
		return ProbeResult{}, err
	}
	defer mem.Close()
	r := mem.Regions()[0]
	if err := vm.SetUserMemoryRegion(0, r.GuestAddr, r.Size(), r.HostAddr()); err != nil {
		return ProbeResult{}, err
	}
	if err := mem.WriteAt(x86.GDT(), x86.GDTAddr); err != nil {
		return ProbeResult{}, err
	}
	cpu, err := vm.CreateVCPU(0)
	if err != nil {
		return ProbeResult{}, err
	}
	defer cpu.Close()
	return probe(cpu, mem)
}
