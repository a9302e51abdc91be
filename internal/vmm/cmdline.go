package vmm

import "strings"

// BaseCmdline is the kernel command line every guest gets.
//
//   - console=ttyS1: kernel messages share COM2 with the program's
//     stderr; loglevel keeps all but emergencies (panics) quiet unless
//     debugging, so the program's output is the only output.
//   - reboot=k panic=-1: a panic or reboot resets through the i8042 at
//     once, which ends the run instead of hanging.
//   - smol-init lives at /.smolvm/init, a path no root filesystem uses:
//     InitrdCmdline names it in an initramfs; RootBoot uses init=.
//   - no_timer_check: skip the IO-APIC timer check, which only real
//     hardware needs (each avoided instruction matters where guest
//     kernel code is emulated).
//
// Every word costs: the kernel matches each one against every built-in
// parameter (once at start, and again for each initcall level that has
// parameters), which is measurable where guest kernel code is emulated.
// So what the project's kernel configuration already says (no I/O delay
// port writes, two UARTs) is not repeated here; a kernel given with
// --kernel that lacks it still boots, only a little slower.
const BaseCmdline = "console=ttyS1 reboot=k panic=-1 no_timer_check"

// InitrdCmdline names smol-init in an initramfs.
const InitrdCmdline = "rdinit=/.smolvm/init"

// QuietCmdline and DebugCmdline select how much the kernel prints.
const (
	QuietCmdline = "loglevel=1"
	DebugCmdline = "loglevel=7"
)

// CompatCmdline is added on hosts whose KVM emulates guest kernel code
// (nested KVM on some clouds): it keeps the guest kernel away from
// instructions that emulator lacks, and from work that is cheap on a
// normal host but costs seconds there. See docs/kvm-emulating-hosts.md.
//
//   - clearcpuid=erms,fsrm: the emulator runs a rep string instruction
//     one iteration at a time (about 1 µs each), so clearing a page with
//     rep stosb took 4 ms; without ERMS the kernel uses rep stosq (8
//     bytes an iteration) for pages and user copies. Boot to the
//     program 1 s faster, a page fault 3.9 → 2.0 ms.
//   - rodata=off: write-protecting kernel text and data splits and
//     rewrites page tables page by page: 1 s of boot. The guest kernel
//     is not the isolation boundary (the VMM is), and this applies
//     only on such hosts, which are development machines.
const CompatCmdline = "rodata=off noxsave nofsgsbase clearcpuid=erms,fsrm,cx16,popcnt,smap,rdpid,rdtscp,invpcid,pcid,clflushopt,clwb,pku,avx,avx2,avx512f,sse4_1,sse4_2,xsaveopt,xsavec,xsaves,aes,pclmulqdq,sha_ni,movbe"

// Cmdline joins the command line parts, skipping empty ones.
func Cmdline(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}
