package kvm

import "strconv"

// ioctl request numbers, from <linux/kvm.h> (values checked against the
// header with a C program; _IOW/_IOR encode the size of the struct).
const (
	ioctlGetAPIVersion       = 0xae00
	ioctlCreateVM            = 0xae01
	ioctlCheckExtension      = 0xae03
	ioctlGetVCPUMmapSize     = 0xae04
	ioctlGetSupportedCPUID   = 0xc008ae05
	ioctlCreateVCPU          = 0xae41
	ioctlSetUserMemoryRegion = 0x4020ae46
	ioctlSetTSSAddr          = 0xae47
	ioctlSetIdentityMapAddr  = 0x4008ae48
	ioctlCreateIRQChip       = 0xae60
	ioctlIRQLine             = 0x4008ae61
	ioctlIRQFD               = 0x4020ae76
	ioctlCreatePIT2          = 0x4040ae77
	ioctlIOEventFD           = 0x4040ae79
	ioctlRun                 = 0xae80
	ioctlGetRegs             = 0x8090ae81
	ioctlSetRegs             = 0x4090ae82
	ioctlGetSregs            = 0x8138ae83
	ioctlSetSregs            = 0x4138ae84
	ioctlGetMSRs             = 0xc008ae88
	ioctlSetMSRs             = 0x4008ae89
	ioctlGetFPU              = 0x81a0ae8c
	ioctlSetFPU              = 0x41a0ae8d
	ioctlGetLAPIC            = 0x8400ae8e
	ioctlSetLAPIC            = 0x4400ae8f
	ioctlSetCPUID2           = 0x4008ae90
)

// APIVersion is the only KVM API version there has ever been.
const APIVersion = 12

// Capabilities for CheckExtension.
const (
	CapIRQChip       = 0x00
	CapUserMemory    = 0x03
	CapSetTSSAddr    = 0x04
	CapExtCPUID      = 0x07
	CapNrVCPUs       = 0x09
	CapIRQFD         = 0x20
	CapPIT2          = 0x21
	CapIOEventFD     = 0x24
	CapMaxVCPUs      = 0x42
	CapImmediateExit = 0x88
)

// ExitReason mirrors the KVM_EXIT_* values in kvm_run.exit_reason.
type ExitReason uint32

// Exit reasons.
const (
	ExitUnknown       ExitReason = 0x00
	ExitException     ExitReason = 0x01
	ExitIO            ExitReason = 0x02
	ExitHypercall     ExitReason = 0x03
	ExitDebug         ExitReason = 0x04
	ExitHLT           ExitReason = 0x05
	ExitMMIO          ExitReason = 0x06
	ExitIRQWindowOpen ExitReason = 0x07
	ExitShutdown      ExitReason = 0x08
	ExitFailEntry     ExitReason = 0x09
	ExitIntr          ExitReason = 0x0a
	ExitSetTPR        ExitReason = 0x0b
	ExitTPRAccess     ExitReason = 0x0c
	ExitNMI           ExitReason = 0x10
	ExitInternalError ExitReason = 0x11
	ExitSystemEvent   ExitReason = 0x18
	ExitIOAPICEOI     ExitReason = 0x1a
	ExitHyperV        ExitReason = 0x1b
	ExitX86RDMSR      ExitReason = 0x1d
	ExitX86WRMSR      ExitReason = 0x1e
	ExitX86BusLock    ExitReason = 0x21
	ExitNotify        ExitReason = 0x25
)

var exitNames = map[ExitReason]string{
	ExitUnknown: "UNKNOWN", ExitException: "EXCEPTION", ExitIO: "IO",
	ExitHypercall: "HYPERCALL", ExitDebug: "DEBUG", ExitHLT: "HLT",
	ExitMMIO: "MMIO", ExitIRQWindowOpen: "IRQ_WINDOW_OPEN",
	ExitShutdown: "SHUTDOWN", ExitFailEntry: "FAIL_ENTRY", ExitIntr: "INTR",
	ExitSetTPR: "SET_TPR", ExitTPRAccess: "TPR_ACCESS", ExitNMI: "NMI",
	ExitInternalError: "INTERNAL_ERROR", ExitSystemEvent: "SYSTEM_EVENT",
	ExitIOAPICEOI: "IOAPIC_EOI", ExitHyperV: "HYPERV",
	ExitX86RDMSR: "X86_RDMSR", ExitX86WRMSR: "X86_WRMSR",
	ExitX86BusLock: "X86_BUS_LOCK", ExitNotify: "NOTIFY",
}

func (r ExitReason) String() string {
	if n, ok := exitNames[r]; ok {
		return "KVM_EXIT_" + n
	}
	return "KVM_EXIT_" + strconv.FormatUint(uint64(r), 10)
}

// System event types (kvm_run.system_event.type).
const (
	SystemEventShutdown = 1
	SystemEventReset    = 2
	SystemEventCrash    = 3
)

// Internal error suberrors (kvm_run.internal.suberror).
const (
	InternalErrorEmulation  = 1 // the instruction emulator failed
	InternalErrorSimulEx    = 2 // exception while delivering an exception
	InternalErrorDeliveryEv = 3
)

// IO directions (kvm_run.io.direction).
const (
	IOIn  = 0
	IOOut = 1
)

// PIT and ioeventfd flags.
const (
	PITSpeakerDummy    = 1
	IOEventFDDatamatch = 1 << 0
	IOEventFDPIO       = 1 << 1
	IOEventFDDeassign  = 1 << 2
	IRQFDDeassign      = 1 << 0
)
