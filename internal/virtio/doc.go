// Package virtio is the device side of virtio 1.x over the MMIO transport:
// split virtqueues (queue.go), the virtio-mmio register block (mmio.go),
// and the interface a device implements (Device). Device logic lives in
// subpackages (blk, ...) and knows nothing of the transport; the
// transport wraps any device and raises interrupts through a function it
// is given, not through a device-specific interface.
//
// Everything here reads guest memory and guest-written registers, so
// everything is untrusted: ring indices are taken modulo the queue size,
// descriptor indices are checked, chains are bounded in length (no loops)
// and in total size (a guest cannot make us allocate without limit), and
// every buffer address goes through the bounds-checked guest memory. A
// malformed chain fails that request; a malformed queue set-up makes the
// device refuse to go live (DEVICE_NEEDS_RESET); nothing panics.
package virtio
