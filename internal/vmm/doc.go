// Package vmm assembles and runs a microVM on /dev/kvm: guest memory, the
// in-kernel interrupt controllers and timer, vCPUs with their CPUID and
// registers, the I/O port bus with the legacy devices, and the kernel,
// initramfs and boot structures placed by packages loader and arch/x86.
//
// A Machine runs until smol-init reports the program's exit status on the
// control device, the guest resets or powers off, or something goes wrong
// that the VMM cannot continue from. Every KVM exit reason is handled:
// those that mean the guest is broken (internal error, triple fault,
// failed entry, unknown) end the run with a GuestError carrying the exit
// reason and the registers, never a hang.
//
// The host's stdout and stderr are COM1 and COM2; host signals reach the
// program through COM2's receive side (see package protocol).
package vmm
