package x86

import (
	"encoding/binary"

	"github.com/smolvm/smolvm/internal/kvm"
)

// Boot GDT selectors (index << 3).
const (
	selCode32 = 1 << 3
	selData32 = 2 << 3
	selTSS    = 3 << 3
	selCode64 = 4 << 3
)

// Control register and flag bits used at entry.
const (
	cr0PE       = 1 << 0
	cr0ET       = 1 << 4
	rflagsFixed = 1 << 1 // bit 1 of RFLAGS always reads 1
)

// MSRs set at entry.
const (
	msrIA32MiscEnable    = 0x1a0
	miscEnableFastString = 1 << 0
)

// GDT returns the boot GDT: null, flat 32-bit code, flat 32-bit data, and
// a 32-bit TSS descriptor (VMX requires a usable TR).
func GDT() []byte {
	entries := []uint64{
		0,
		gdtEntry(0xc09b, 0, 0xfffff), // code: present, DPL0, exec/read, 4 KiB granular, 32-bit
		gdtEntry(0xc093, 0, 0xfffff), // data: present, DPL0, read/write
		gdtEntry(0x008b, 0, 0x67),    // busy 32-bit TSS
		gdtEntry(0xa09b, 0, 0xfffff), // code: 64-bit (for the emulation probe)
	}
	b := make([]byte, 8*len(entries))
	for i, e := range entries {
		binary.LittleEndian.PutUint64(b[8*i:], e)
	}
	return b
}

func gdtEntry(flags uint16, base, limit uint32) uint64 {
	return uint64(base&0xff000000)<<32 | uint64(flags&0xf0ff)<<40 | uint64(limit&0x000f0000)<<32 |
		uint64(base&0x00ffffff)<<16 | uint64(limit&0x0000ffff)
}

// PVHSregs returns the special registers for the PVH entry: protected
// mode, paging off, flat segments from the boot GDT.
func PVHSregs(s kvm.Sregs) kvm.Sregs {
	code := kvm.Segment{Base: 0, Limit: 0xffffffff, Selector: selCode32, Type: 0xb, Present: 1, Db: 1, S: 1, G: 1}
	data := kvm.Segment{Base: 0, Limit: 0xffffffff, Selector: selData32, Type: 0x3, Present: 1, Db: 1, S: 1, G: 1}
	s.Cs = code
	s.Ds, s.Es, s.Fs, s.Gs, s.Ss = data, data, data, data, data
	s.Tr = kvm.Segment{Base: 0, Limit: 0x67, Selector: selTSS, Type: 0xb, Present: 1}
	s.Gdt = kvm.DTable{Base: GDTAddr, Limit: uint16(len(GDT()) - 1)}
	s.Idt = kvm.DTable{}
	s.Cr0 = cr0PE | cr0ET
	s.Cr3, s.Cr4, s.Efer = 0, 0, 0
	return s
}

// Long-mode control bits for the probe.
const (
	cr0PG    = 1 << 31
	cr4PAE   = 1 << 5
	eferLME  = 1 << 8
	eferLMA  = 1 << 10
	pteP     = 1 << 0
	pteRW    = 1 << 1
	ptePS    = 1 << 7
	pageSize = 0x1000
)

// LongModeTables returns identity page tables mapping the first 2 MiB
// with one large page, to be written at ProbePageTables.
func LongModeTables() []byte {
	b := make([]byte, 3*pageSize)
	le := binary.LittleEndian
	le.PutUint64(b[0:], ProbePageTables+pageSize|pteP|pteRW)          // PML4[0] -> PDPT
	le.PutUint64(b[pageSize:], ProbePageTables+2*pageSize|pteP|pteRW) // PDPT[0] -> PD
	le.PutUint64(b[2*pageSize:], 0|pteP|pteRW|ptePS)                  // PD[0]: 2 MiB at 0
	return b
}

// LongModeSregs returns special registers for 64-bit mode at CPL 0 with
// the tables of LongModeTables: how Linux's own kernel code runs.
func LongModeSregs(s kvm.Sregs) kvm.Sregs {
	s = PVHSregs(s)
	s.Cs = kvm.Segment{Base: 0, Limit: 0xffffffff, Selector: selCode64, Type: 0xb, Present: 1, L: 1, S: 1, G: 1}
	s.Cr3 = ProbePageTables
	s.Cr4 = cr4PAE
	s.Cr0 |= cr0PG
	s.Efer = eferLME | eferLMA
	return s
}

// PVHRegs returns the general registers for the PVH entry at entry.
func PVHRegs(entry uint64) kvm.Regs {
	return kvm.Regs{Rip: entry, Rbx: StartInfoAddr, Rflags: rflagsFixed}
}

// BootMSRs are written before entry (as Firecracker does: fast strings on).
func BootMSRs() []kvm.MSREntry {
	return []kvm.MSREntry{{Index: msrIA32MiscEnable, Data: miscEnableFastString}}
}

// BootFPU is the FPU state at reset: x87 control word 0x37f, SSE MXCSR
// 0x1f80 (all exceptions masked).
func BootFPU() kvm.FPU {
	return kvm.FPU{Fcw: 0x37f, Mxcsr: 0x1f80}
}

// CPUID leaves and bits adjusted per vCPU.
const (
	cpuidLeafFeatures = 0x1
	cpuidLeafTopology = 0xb
	cpuidHypervisor   = 1 << 31 // leaf 1 ECX
	cpuidHTT          = 1 << 28 // leaf 1 EDX

	// KVM's paravirtual feature leaf (KVM_CPUID_FEATURES) and the
	// asynchronous page fault bits in its EAX. Async page faults let a
	// guest run another task while the host swaps a page in; a microVM
	// runs one program, its memory is not swapped by design, and the
	// guest's notification handling is extra kernel work on every
	// host page fault it is told about.
	cpuidLeafKVMFeatures    = 0x40000001
	kvmFeatureAsyncPF       = 1 << 4
	kvmFeatureAsyncPFVMExit = 1 << 10
	kvmFeatureAsyncPFInt    = 1 << 14
)

// CPUID returns the CPUID table for vCPU id of ncpu, from what KVM
// supports: APIC IDs in leaves 1 and 0xB, the hypervisor bit set.
//
// Feature bits cannot be reliably hidden from the guest kernel this way
// on every host (see docs/kvm-emulating-hosts.md): that is done on the
// kernel command line.
func CPUID(supported []kvm.CPUIDEntry2, id, ncpu int) []kvm.CPUIDEntry2 {
	out := make([]kvm.CPUIDEntry2, len(supported))
	copy(out, supported)
	for i := range out {
		e := &out[i]
		switch e.Function {
		case cpuidLeafFeatures:
			e.Ebx = e.Ebx&0x0000ffff | uint32(ncpu)<<16 | uint32(id)<<24
			e.Ecx |= cpuidHypervisor
			if ncpu > 1 {
				e.Edx |= cpuidHTT
			}
		case cpuidLeafTopology:
			e.Edx = uint32(id)
		case cpuidLeafKVMFeatures:
			e.Eax &^= kvmFeatureAsyncPF | kvmFeatureAsyncPFVMExit | kvmFeatureAsyncPFInt
		}
	}
	return out
}

// LAPIC register offsets for local interrupt pins, and delivery modes.
const (
	lapicLVT0        = 0x350
	lapicLVT1        = 0x360
	lapicDeliveryExt = 0x7 << 8
	lapicDeliveryNMI = 0x4 << 8
)

// SetLINTs sets LINT0 to ExtINT (the PIC) and LINT1 to NMI, the virtual
// wire a PC BIOS leaves behind; Linux expects it before it takes over.
func SetLINTs(l *kvm.LAPICState) {
	set := func(off int, mode uint32) {
		var b [4]byte
		for i := range b {
			b[i] = byte(l.Regs[off+i])
		}
		v := binary.LittleEndian.Uint32(b[:])&^0x700 | mode
		binary.LittleEndian.PutUint32(b[:], v)
		for i := range b {
			l.Regs[off+i] = int8(b[i])
		}
	}
	set(lapicLVT0, lapicDeliveryExt)
	set(lapicLVT1, lapicDeliveryNMI)
}
