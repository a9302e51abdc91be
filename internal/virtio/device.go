package virtio

// Device is what a virtio device implements; the transport owns feature
// negotiation, queue set-up, status and interrupts.
type Device interface {
	// Type is the virtio device ID (2 = block, 3 = console, 4 = rng).
	Type() uint32
	// Features are the device feature bits (VERSION_1 is added by the
	// transport).
	Features() uint64
	// Queues is the number of virtqueues and QueueMax their largest size.
	Queues() int
	QueueMax() uint16
	// ReadConfig fills b from the device configuration space at off;
	// bytes past its end read as zero.
	ReadConfig(off uint64, b []byte)
	// Activate is called when the driver sets DRIVER_OK, with the
	// negotiated features, the live queues, and a function to call after
	// using buffers of queue q outside Notify (a device that completes
	// requests later, from its own goroutine or a timer).
	Activate(features uint64, queues []*Queue, interrupt func(q int))
	// Notify is called when the driver kicks queue q. The device
	// processes what is available and returns true if it used buffers
	// (the transport then interrupts the guest if it wants).
	Notify(q int) bool
	// Reset returns the device to its initial state.
	Reset()
}

// Device IDs.
const (
	IDBlock   = 2
	IDConsole = 3
	IDRNG     = 4
)

// FeatureVersion1 (VIRTIO_F_VERSION_1) marks a modern device; the
// transport offers it always and requires the driver to accept it.
const FeatureVersion1 = 1 << 32
