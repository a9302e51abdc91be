// Package virtiotest is the driver side of virtio for tests: it lays out
// a split virtqueue in guest memory, negotiates with a transport the way
// Linux does, and submits descriptor chains, well-formed or not. With it,
// every device runs the same conformance suite (Suite).
package virtiotest

import (
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smolvm/smolvm/internal/memory"
	"github.com/smolvm/smolvm/internal/virtio"
)

// Guest memory layout used by the driver.
const (
	MemSize   = 4 << 20
	DescAddr  = 0x10000
	AvailAddr = 0x20000
	UsedAddr  = 0x30000
	DataAddr  = 0x100000 // buffers are allocated from here up
)

// MMIO register offsets the driver uses (virtio-mmio v2).
const (
	RegMagic, RegVersion, RegDeviceID              = 0x000, 0x004, 0x008
	RegDeviceFeatures, RegDeviceFeatSel            = 0x010, 0x014
	RegDriverFeatures, RegDriverFeatSel            = 0x020, 0x024
	RegQueueSel, RegQueueNumMax, RegQueueNum       = 0x030, 0x034, 0x038
	RegQueueReady, RegQueueNotify                  = 0x044, 0x050
	RegInterruptStatus, RegInterruptAck, RegStatus = 0x060, 0x064, 0x070
	RegQueueDescLow, RegQueueDescHigh              = 0x080, 0x084
	RegQueueDriverLow, RegQueueDriverHigh          = 0x090, 0x094
	RegQueueDeviceLow, RegQueueDeviceHigh          = 0x0a0, 0x0a4
	RegConfig                                      = 0x100
)

// Status bits.
const (
	StatusAck, StatusDriver, StatusDriverOK, StatusFeaturesOK = 1, 2, 4, 8
	StatusNeedsReset                                          = 64
)

// Driver drives one transport.
type Driver struct {
	T       testing.TB
	Mem     *memory.Memory
	MMIO    *virtio.MMIO
	irqs    atomic.Int64
	size    uint16
	availIx uint16
	usedIx  uint16
	next    uint64 // next free data address
	// Wait is how long SubmitRaw waits for a device that completes
	// requests from its own goroutines; 0 checks once, right after the
	// kick (a device that completes in Notify).
	Wait time.Duration
}

// New creates guest memory and a transport around dev.
func New(t testing.TB, dev virtio.Device) *Driver {
	m, err := memory.New(memory.Range{Addr: 0, Size: MemSize})
	if err != nil {
		t.Fatal(err)
	}
	d := &Driver{T: t, Mem: m, next: DataAddr}
	d.MMIO = virtio.NewMMIO(dev, m, func() { d.irqs.Add(1) })
	// Devices may complete requests from their own goroutines: stop
	// them before the memory they write goes away.
	t.Cleanup(func() { d.MMIO.Reset(); m.Close() })
	return d
}

// IRQs is how many interrupts the device raised.
func (d *Driver) IRQs() int64 { return d.irqs.Load() }

// R reads a 32-bit register.
func (d *Driver) R(off uint64) uint32 {
	b := make([]byte, 4)
	d.MMIO.Read(off, b)
	return binary.LittleEndian.Uint32(b)
}

// W writes a 32-bit register.
func (d *Driver) W(off uint64, v uint32) {
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, v)
	d.MMIO.Write(off, b)
}

// Features reads the device's 64 feature bits.
func (d *Driver) Features() uint64 {
	d.W(RegDeviceFeatSel, 0)
	lo := d.R(RegDeviceFeatures)
	d.W(RegDeviceFeatSel, 1)
	return uint64(d.R(RegDeviceFeatures))<<32 | uint64(lo)
}

// Init negotiates features (accepting want) and sets up queue 0 with
// size entries; it returns the final status.
func (d *Driver) Init(want uint64, size uint16) uint32 {
	d.W(RegStatus, 0)
	d.W(RegStatus, StatusAck)
	d.W(RegStatus, StatusAck|StatusDriver)
	d.W(RegDriverFeatSel, 0)
	d.W(RegDriverFeatures, uint32(want))
	d.W(RegDriverFeatSel, 1)
	d.W(RegDriverFeatures, uint32(want>>32))
	d.W(RegStatus, StatusAck|StatusDriver|StatusFeaturesOK)
	if d.R(RegStatus)&StatusFeaturesOK == 0 {
		return d.R(RegStatus)
	}
	d.SetupQueue(0, size, DescAddr, AvailAddr, UsedAddr)
	d.W(RegStatus, StatusAck|StatusDriver|StatusFeaturesOK|StatusDriverOK)
	return d.R(RegStatus)
}

// SetupQueue programs queue q's size and ring addresses and sets it ready.
func (d *Driver) SetupQueue(q uint32, size uint16, desc, avail, used uint64) {
	d.size = size
	d.W(RegQueueSel, q)
	d.W(RegQueueNum, uint32(size))
	d.W(RegQueueDescLow, uint32(desc))
	d.W(RegQueueDescHigh, uint32(desc>>32))
	d.W(RegQueueDriverLow, uint32(avail))
	d.W(RegQueueDriverHigh, uint32(avail>>32))
	d.W(RegQueueDeviceLow, uint32(used))
	d.W(RegQueueDeviceHigh, uint32(used>>32))
	d.W(RegQueueReady, 1)
}

// Desc is one descriptor to place.
type Desc struct {
	Addr  uint64
	Len   uint32
	Flags uint16
	Next  uint16
}

// Descriptor flags.
const (
	FNext, FWrite, FIndirect = 1, 2, 4
)

// Alloc reserves n bytes of guest memory for a buffer, filled with data
// if given.
func (d *Driver) Alloc(n int, data []byte) uint64 {
	a := d.next
	d.next += uint64(n+15) &^ 15
	if len(data) > 0 {
		if err := d.Mem.WriteAt(data, a); err != nil {
			d.T.Fatal(err)
		}
	}
	return a
}

// Bytes reads guest memory.
func (d *Driver) Bytes(addr uint64, n int) []byte {
	b := make([]byte, n)
	if err := d.Mem.ReadAt(b, addr); err != nil {
		d.T.Fatal(err)
	}
	return b
}

// SubmitRaw writes descs at table indices 0.., makes head available and
// kicks queue 0; it returns the used length the device reported (-1 if
// the chain was not used).
func (d *Driver) SubmitRaw(head uint16, descs []Desc) int {
	le := binary.LittleEndian
	for i, ds := range descs {
		b := make([]byte, 16)
		le.PutUint64(b[0:], ds.Addr)
		le.PutUint32(b[8:], ds.Len)
		le.PutUint16(b[12:], ds.Flags)
		le.PutUint16(b[14:], ds.Next)
		d.Mem.WriteAt(b, DescAddr+16*uint64(i))
	}
	b := make([]byte, 2)
	le.PutUint16(b, head)
	d.Mem.WriteAt(b, AvailAddr+4+2*uint64(d.availIx%d.size))
	d.availIx++
	le.PutUint16(b, d.availIx)
	d.Mem.WriteAt(b, AvailAddr+2)
	d.W(RegQueueNotify, 0)
	deadline := time.Now().Add(d.Wait)
	for le.Uint16(d.Bytes(UsedAddr+2, 2)) == d.usedIx {
		if time.Now().After(deadline) {
			return -1
		}
		time.Sleep(time.Millisecond)
	}
	e := d.Bytes(UsedAddr+4+8*uint64(d.usedIx%d.size), 8)
	d.usedIx++
	if got := le.Uint32(e[0:]); got != uint32(head) {
		d.T.Fatalf("used element for head %d, want %d", got, head)
	}
	return int(le.Uint32(e[4:]))
}

// Submit chains descs (setting NEXT links in order) and submits them.
func (d *Driver) Submit(descs ...Desc) int {
	for i := range descs {
		if i < len(descs)-1 {
			descs[i].Flags |= FNext
			descs[i].Next = uint16(i + 1)
		}
	}
	return d.SubmitRaw(0, descs)
}
