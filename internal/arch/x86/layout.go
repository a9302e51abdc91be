// Package x86 holds what is specific to an x86-64 guest machine: where
// everything lives in guest-physical memory and port space (this file,
// the only place such numbers are written), the PVH start-of-day
// structures, the MP table that tells Linux about CPUs and the IOAPIC,
// CPUID and MSR set-up, and the vCPU registers at entry.
//
// The guest is booted through the PVH entry point (the kernel's
// XEN_ELFNOTE_PHYS32_ENTRY): the vCPU starts in 32-bit protected mode
// without paging, EBX pointing at an hvm_start_info. That needs no page
// tables, no zero page and no real-mode code from us, and works with the
// uncompressed vmlinux we boot (the in-guest decompressor of a bzImage is
// prohibitively slow on hosts that emulate guest kernel code).
package x86

import "github.com/smolvm/smolvm/internal/guest/protocol"

// Guest-physical memory layout. Low memory below 1 MiB holds the boot
// structures; the kernel loads at its ELF physical addresses (16 MiB for
// a default x86-64 vmlinux); the initramfs goes at the top of RAM.
const (
	// GDTAddr is the boot GDT used for the PVH entry (flat 32-bit code
	// and data). Linux loads its own GDT at once.
	GDTAddr = 0x500
	// ProbeCodeAddr holds the few bytes of the emulation probe
	// (see emuprobe in package vmm); overwritten by nothing later.
	ProbeCodeAddr = 0x800
	// ProbePageTables holds the emulation probe's identity page tables
	// (PML4, PDPT, PD: three pages); free RAM once Linux runs.
	ProbePageTables = 0x3000
	// StartInfoAddr is the hvm_start_info handed to the kernel in EBX.
	StartInfoAddr = 0x1000
	// ModlistAddr is the module (initramfs) list of hvm_start_info.
	ModlistAddr = 0x1100
	// MemmapAddr is the memory map of hvm_start_info (E820 entries).
	MemmapAddr = 0x1200
	// MemmapMaxEntries bounds the memory map (it fits below CmdlineAddr).
	MemmapMaxEntries = 64
	// CmdlineAddr is the kernel command line.
	CmdlineAddr = 0x2000
	// CmdlineMax is the x86 kernel's COMMAND_LINE_SIZE, including the NUL.
	CmdlineMax = 2048
	// MPTableAddr is the MP floating pointer and configuration table, in
	// the last KiB of base memory where Linux scans for it.
	MPTableAddr = 0x9fc00
	// EBDAStart..HighMemStart is reserved (EBDA, VGA hole, BIOS area).
	EBDAStart = 0x9fc00
	// HighMemStart is where RAM resumes above the legacy hole.
	HighMemStart = 0x100000
	// LowMemHugePageEnd ends the huge page holding all the boot
	// structures above: the VMM keeps it in small pages.
	LowMemHugePageEnd = 2 << 20
	// MMIOGapStart is the start of the 32-bit device hole: RAM above it
	// is placed at 4 GiB instead.
	MMIOGapStart = 0xc0000000
	// MMIOGapEnd is 4 GiB.
	MMIOGapEnd = 0x100000000
	// VirtioMMIOBase is the first virtio-mmio device window; device i is
	// at VirtioMMIOBase + i*VirtioMMIOStride, interrupt VirtioIRQBase + i.
	VirtioMMIOBase   = 0xd0000000
	VirtioMMIOStride = 0x1000
	// IOAPICAddr and LAPICAddr are the architectural APIC addresses,
	// inside the MMIO gap.
	IOAPICAddr = 0xfec00000
	LAPICAddr  = 0xfee00000
	// TSSAddr (3 pages) and IdentityMapAddr (1 page) are needed by Intel
	// VMX; placed just below the BIOS area at the top of 4 GiB.
	TSSAddr         = 0xfffbd000
	IdentityMapAddr = 0xfffbc000
	// InitrdAlign is the alignment of the initramfs load address.
	InitrdAlign = 0x1000
)

// I/O ports and interrupt lines of the legacy devices.
const (
	COM1Port = 0x3f8 // ttyS0: program stdout (and stdin)
	COM1IRQ  = 4
	COM2Port = 0x2f8 // ttyS1: program stderr and kernel console
	COM2IRQ  = 3
	// UARTPorts is the number of registers of a 16550.
	UARTPorts = 8

	I8042DataPort    = 0x60
	I8042CommandPort = 0x64

	// The smolvm control device (see package protocol).
	ControlPortExit      = protocol.PortExit
	ControlPortMarker    = protocol.PortMarker
	ControlPortInitError = protocol.PortInitError
	// ControlPortProbe is written by the emulation probe when its loop
	// ends (never by Linux).
	ControlPortProbe = 0x603

	// VirtioIRQBase is the interrupt line of the first virtio device
	// (lines 3 and 4 are the UARTs'); MaxVirtioDevices keeps within the
	// IOAPIC's pins.
	VirtioIRQBase    = 5
	MaxVirtioDevices = NumIRQs - VirtioIRQBase

	// NumIRQs is the number of IOAPIC pins KVM's in-kernel IOAPIC has.
	NumIRQs = 24
)
