//go:build ignore

// Input for `go tool cgo -godefs`: mirrors of the kernel's KVM structs.
// Regenerate ztypes_linux_amd64.go with: go generate ./internal/kvm

package kvm

/*
#include <linux/kvm.h>
*/
import "C"

// Regs mirrors struct kvm_regs.
type Regs C.struct_kvm_regs

// Segment mirrors struct kvm_segment.
type Segment C.struct_kvm_segment

// DTable mirrors struct kvm_dtable.
type DTable C.struct_kvm_dtable

// Sregs mirrors struct kvm_sregs.
type Sregs C.struct_kvm_sregs

// FPU mirrors struct kvm_fpu.
type FPU C.struct_kvm_fpu

// UserspaceMemoryRegion mirrors struct kvm_userspace_memory_region.
type UserspaceMemoryRegion C.struct_kvm_userspace_memory_region

// MSREntry mirrors struct kvm_msr_entry.
type MSREntry C.struct_kvm_msr_entry

// CPUIDEntry2 mirrors struct kvm_cpuid_entry2.
type CPUIDEntry2 C.struct_kvm_cpuid_entry2

// IRQLevel mirrors struct kvm_irq_level.
type IRQLevel C.struct_kvm_irq_level

// PITConfig mirrors struct kvm_pit_config.
type PITConfig C.struct_kvm_pit_config

// IRQFD mirrors struct kvm_irqfd.
type IRQFD C.struct_kvm_irqfd

// IOEventFD mirrors struct kvm_ioeventfd.
type IOEventFD C.struct_kvm_ioeventfd

// LAPICState mirrors struct kvm_lapic_state.
type LAPICState C.struct_kvm_lapic_state
