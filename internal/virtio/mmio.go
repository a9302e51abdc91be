package virtio

import (
	"encoding/binary"
	"sync"
)

// virtio-mmio version 2 registers (virtio 1.2 §4.2.2).
const (
	regMagic            = 0x000
	regVersion          = 0x004
	regDeviceID         = 0x008
	regVendorID         = 0x00c
	regDeviceFeatures   = 0x010
	regDeviceFeatSel    = 0x014
	regDriverFeatures   = 0x020
	regDriverFeatSel    = 0x024
	regQueueSel         = 0x030
	regQueueNumMax      = 0x034
	regQueueNum         = 0x038
	regQueueReady       = 0x044
	regQueueNotify      = 0x050
	regInterruptStatus  = 0x060
	regInterruptAck     = 0x064
	regStatus           = 0x070
	regQueueDescLow     = 0x080
	regQueueDescHigh    = 0x084
	regQueueDriverLow   = 0x090
	regQueueDriverHigh  = 0x094
	regQueueDeviceLow   = 0x0a0
	regQueueDeviceHigh  = 0x0a4
	regConfigGeneration = 0x0fc
	regConfig           = 0x100

	mmioMagic   = 0x74726976 // "virt"
	mmioVersion = 2
	vendorID    = 0x4c4f4d53 // "SMOL"

	// MMIOSize is the size of one device's register window.
	MMIOSize = 0x1000

	intUsedBuffer = 1

	statusAcknowledge = 1
	statusDriver      = 2
	statusDriverOK    = 4
	statusFeaturesOK  = 8
	statusNeedsReset  = 64
	statusFailed      = 128
)

// MMIO is the virtio-mmio transport around one device.
type MMIO struct {
	dev Device
	mem Memory
	irq func() // raise an edge on the device's interrupt line

	mu          sync.Mutex // guards everything below; vCPUs access registers concurrently
	queues      []*Queue
	status      uint32
	devFeatSel  uint32
	drvFeatSel  uint32
	drvFeatures uint64
	queueSel    uint32
	intStatus   uint32
}

// NewMMIO wraps dev. irq raises the device's interrupt.
func NewMMIO(dev Device, mem Memory, irq func()) *MMIO {
	t := &MMIO{dev: dev, mem: mem, irq: irq}
	for i := 0; i < dev.Queues(); i++ {
		t.queues = append(t.queues, &Queue{})
	}
	return t
}

func (t *MMIO) features() uint64 { return t.dev.Features() | FeatureVersion1 }

func (t *MMIO) queue() *Queue {
	if int(t.queueSel) < len(t.queues) {
		return t.queues[t.queueSel]
	}
	return nil
}

// Read handles a guest read of width len(data) at offset off.
func (t *MMIO) Read(off uint64, data []byte) {
	clear(data)
	if off >= regConfig {
		t.dev.ReadConfig(off-regConfig, data)
		return
	}
	if len(data) != 4 || off%4 != 0 {
		return // registers are 32-bit; anything else reads as zero
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var v uint32
	switch off {
	case regMagic:
		v = mmioMagic
	case regVersion:
		v = mmioVersion
	case regDeviceID:
		v = t.dev.Type()
	case regVendorID:
		v = vendorID
	case regDeviceFeatures:
		if t.devFeatSel < 2 {
			v = uint32(t.features() >> (32 * t.devFeatSel))
		}
	case regQueueNumMax:
		if t.queue() != nil {
			v = uint32(t.dev.QueueMax())
		}
	case regQueueReady:
		if q := t.queue(); q != nil && q.Ready {
			v = 1
		}
	case regInterruptStatus:
		v = t.intStatus
	case regStatus:
		v = t.status
	case regConfigGeneration:
		v = 0
	}
	binary.LittleEndian.PutUint32(data, v)
}

// Write handles a guest write at offset off.
func (t *MMIO) Write(off uint64, data []byte) {
	if off >= regConfig || len(data) != 4 || off%4 != 0 {
		return // configuration space is read-only for our devices
	}
	v := binary.LittleEndian.Uint32(data)
	if off == regQueueNotify {
		t.notify(v)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	q := t.queue()
	// Queue registers may only change before the queue is live and
	// before DRIVER_OK: from then on the device reads its queues without
	// this lock (in Notify, on ioeventfd and device goroutines), so a
	// queue's set-up stays frozen until reset. A size or ring changed
	// under a running device would have it index rings it never
	// validated.
	live := t.status&statusDriverOK != 0
	settable := q != nil && !q.Ready && !live
	switch off {
	case regDeviceFeatSel:
		t.devFeatSel = v
	case regDriverFeatSel:
		t.drvFeatSel = v
	case regDriverFeatures:
		if t.drvFeatSel < 2 && t.status&statusFeaturesOK == 0 {
			shift := 32 * t.drvFeatSel
			t.drvFeatures = t.drvFeatures&^(0xffffffff<<shift) | uint64(v)<<shift
		}
	case regQueueSel:
		t.queueSel = v
	case regQueueNum:
		if settable {
			q.Size = uint16(min(v, 0xffff))
		}
	case regQueueDescLow, regQueueDescHigh, regQueueDriverLow, regQueueDriverHigh, regQueueDeviceLow, regQueueDeviceHigh:
		if settable {
			setHalf(q, off, v)
		}
	case regQueueReady:
		if q == nil || live {
			return
		}
		if v == 0 {
			q.Ready = false
			return
		}
		if err := q.Validate(t.mem, t.dev.QueueMax()); err != nil {
			t.status |= statusNeedsReset
			return
		}
		q.Ready = true
	case regInterruptAck:
		t.intStatus &^= v
	case regStatus:
		t.setStatus(v)
	}
}

func setHalf(q *Queue, off uint64, v uint32) {
	set := func(p *uint64, high bool) {
		if high {
			*p = *p&0xffffffff | uint64(v)<<32
		} else {
			*p = *p&^0xffffffff | uint64(v)
		}
	}
	switch off {
	case regQueueDescLow, regQueueDescHigh:
		set(&q.Desc, off == regQueueDescHigh)
	case regQueueDriverLow, regQueueDriverHigh:
		set(&q.Avail, off == regQueueDriverHigh)
	case regQueueDeviceLow, regQueueDeviceHigh:
		set(&q.Used, off == regQueueDeviceHigh)
	}
}

// setStatus follows the driver through initialisation (§3.1.1).
func (t *MMIO) setStatus(v uint32) {
	if v == 0 {
		t.reset()
		return
	}
	// Status bits clear only on reset (the driver must not clear them,
	// §2.1.2): DRIVER_OK stays, so queues stay frozen and the device is
	// activated once; NEEDS_RESET and FAILED stay for the driver to see.
	v |= t.status
	if v&statusFeaturesOK != 0 && t.status&statusFeaturesOK == 0 {
		// Accept only features we offered, and only modern drivers.
		if t.drvFeatures&^t.features() != 0 || t.drvFeatures&FeatureVersion1 == 0 {
			v &^= statusFeaturesOK
		}
	}
	if v&statusDriverOK != 0 && t.status&statusDriverOK == 0 {
		if v&statusFeaturesOK == 0 {
			t.status = v | statusFailed
			return
		}
		t.dev.Activate(t.drvFeatures, t.queues, t.interrupt)
	}
	t.status = v
}

// Reset resets the device as a driver writing status 0 would; the VMM
// calls it before unmapping guest memory, so no device goroutine or
// timer touches memory afterwards.
func (t *MMIO) Reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.reset()
}

func (t *MMIO) reset() {
	t.dev.Reset()
	for _, q := range t.queues {
		q.Reset()
	}
	t.status, t.devFeatSel, t.drvFeatSel, t.drvFeatures, t.queueSel, t.intStatus = 0, 0, 0, 0, 0, 0
}

// QueueNotifyOffset is the register the driver writes a queue index to
// when it kicks; a VMM may route those writes to an eventfd (one per
// queue, matching the value) and call Notify from its own goroutine.
const QueueNotifyOffset = regQueueNotify

// NumQueues is the device's number of virtqueues.
func (t *MMIO) NumQueues() int { return len(t.queues) }

// Notify handles a kick of queue q that arrived other than through Write
// (an ioeventfd). It may run on any goroutine.
func (t *MMIO) Notify(q uint32) { t.notify(q) }

// notify runs the device for queue q and interrupts the guest if it
// used buffers and wants to hear about it.
func (t *MMIO) notify(qi uint32) {
	t.mu.Lock()
	live := t.status&statusDriverOK != 0 && int(qi) < len(t.queues) && t.queues[qi].Ready
	t.mu.Unlock()
	if !live {
		return
	}
	if t.dev.Notify(int(qi)) {
		t.interrupt(int(qi))
	}
}

// interrupt tells the guest that queue qi has used buffers, unless it
// asked not to be told.
func (t *MMIO) interrupt(qi int) {
	t.mu.Lock()
	want := qi >= 0 && qi < len(t.queues) && t.queues[qi].NeedInterrupt()
	if want {
		t.intStatus |= intUsedBuffer
	}
	t.mu.Unlock()
	if want {
		t.irq()
	}
}
