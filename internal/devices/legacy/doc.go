// Package legacy implements the PC devices a microVM still needs on the
// I/O port bus: the 16550 UART (console and program stdio), the i8042's
// reset line (how Linux reboots with reboot=k), and the smolvm control
// device through which smol-init reports markers and the exit status.
//
// Devices see only offsets within their port range and byte slices; the
// bus that routes ports to them lives in package vmm. Interrupts are
// raised through a function given at construction, so a device knows
// nothing of the irqchip (unlike gokvm's device-specific IRQ interface).
package legacy
