package virtio_test

import (
	"encoding/binary"
	"io"
	"testing"

	"github.com/smolvm/smolvm/internal/fuzzcorpus"
	"github.com/smolvm/smolvm/internal/memory"
	"github.com/smolvm/smolvm/internal/virtio"
	"github.com/smolvm/smolvm/internal/virtio/blk"
	"github.com/smolvm/smolvm/internal/virtio/console"
	"github.com/smolvm/smolvm/internal/virtio/rng"
	"github.com/smolvm/smolvm/internal/virtio/virtiotest"
)

// FuzzMMIO ops (the low two bits; the next two give the access width
// 1, 2, 4 or 8 for register reads and writes, or the queue to kick).
const (
	mopWrite = iota // off u16, value u32
	mopRead         // off u16
	mopMem          // addr u16, n u8, data: raw guest memory
	mopKick         // queue (op>>2)
)

// Devices a FuzzMMIO input picks from (its first byte).
const (
	devRNG = iota
	devBlk
	devConsole
	devCount
)

const fuzzDiskSize = 64 << 10

// mmioSeed is a FuzzMMIO input under construction.
type mmioSeed []byte

func (s mmioSeed) w(off uint16, v uint32) mmioSeed {
	s = binary.LittleEndian.AppendUint16(append(s, mopWrite|2<<2), off)
	return binary.LittleEndian.AppendUint32(s, v)
}

func (s mmioSeed) r(off uint16, width byte) mmioSeed {
	return binary.LittleEndian.AppendUint16(append(s, mopRead|width<<2), off)
}

func (s mmioSeed) mem(addr uint16, data ...byte) mmioSeed {
	s = binary.LittleEndian.AppendUint16(append(s, mopMem), addr)
	return append(append(s, byte(len(data))), data...)
}

func (s mmioSeed) kick(q byte) mmioSeed { return append(s, mopKick|q<<2) }

// init negotiates features and sets up queues 0..n-1 with 8 entries at
// fDesc/fAvail/fUsed + 0x400*i, then sets DRIVER_OK.
func (s mmioSeed) init(features uint64, n int) mmioSeed {
	s = s.w(virtiotest.RegStatus, 0).w(virtiotest.RegStatus, 1).w(virtiotest.RegStatus, 3).
		w(virtiotest.RegDriverFeatSel, 0).w(virtiotest.RegDriverFeatures, uint32(features)).
		w(virtiotest.RegDriverFeatSel, 1).w(virtiotest.RegDriverFeatures, uint32(features>>32)).
		w(virtiotest.RegStatus, 11)
	for i := range n {
		off := uint32(0x400 * i)
		s = s.w(virtiotest.RegQueueSel, uint32(i)).w(virtiotest.RegQueueNum, 8).
			w(virtiotest.RegQueueDescLow, fDesc+off).w(virtiotest.RegQueueDriverLow, fAvail+off).
			w(virtiotest.RegQueueDeviceLow, fUsed+off).w(virtiotest.RegQueueReady, 1)
	}
	return s.w(virtiotest.RegStatus, 15)
}

// desc writes descriptor i of queue 0.
func (s mmioSeed) desc(i int, addr uint64, n uint32, flags, next uint16) mmioSeed {
	var d [16]byte
	binary.LittleEndian.PutUint64(d[0:], addr)
	binary.LittleEndian.PutUint32(d[8:], n)
	binary.LittleEndian.PutUint16(d[12:], flags)
	binary.LittleEndian.PutUint16(d[14:], next)
	return s.mem(uint16(fDesc+16*i), d[:]...)
}

// submit makes head available in slot of queue 0 and kicks it.
func (s mmioSeed) submit(slot, head uint16) mmioSeed {
	return s.mem(uint16(fAvail+4+2*slot), byte(head), byte(head>>8)).
		mem(fAvail+2, byte(slot+1), byte((slot+1)>>8)).kick(0)
}

// blkHeader is a virtio-blk request header in guest memory at fData.
func (s mmioSeed) blkHeader(typ uint32, sector uint64) mmioSeed {
	var h [16]byte
	binary.LittleEndian.PutUint32(h[0:], typ)
	binary.LittleEndian.PutUint64(h[8:], sector)
	return s.mem(fData, h[:]...)
}

func mmioSeeds() map[string][]any {
	const (
		next, write = 1, 2
		v1          = virtio.FeatureVersion1
		flush       = 1 << 9
		multiport   = 1 << 1
	)
	dev := func(d byte) mmioSeed { return mmioSeed{d} }
	blkReq := func(typ uint32, sector uint64, n uint32, dataFlags uint16) mmioSeed {
		return dev(devBlk).init(v1|flush, 1).blkHeader(typ, sector).
			desc(0, fData, 16, next, 1).desc(1, fData+0x100, n, dataFlags|next, 2).desc(2, fData+0x80, 1, write, 0).
			submit(0, 0).r(virtiotest.RegInterruptStatus, 2).w(virtiotest.RegInterruptAck, 1)
	}
	seeds := map[string]mmioSeed{
		"rng-request": dev(devRNG).init(v1, 1).desc(0, fData, 64, write, 0).submit(0, 0).
			r(virtiotest.RegInterruptStatus, 2).w(virtiotest.RegInterruptAck, 1),
		"rng-two": dev(devRNG).init(v1, 1).desc(0, fData, 16, write, 0).desc(1, fData+16, 16, write, 0).
			mem(fAvail+4, 0, 0, 1, 0).mem(fAvail+2, 2, 0).kick(0),
		"rng-loop":        dev(devRNG).init(v1, 1).desc(0, fData, 16, write|next, 1).desc(1, fData, 16, write|next, 0).submit(0, 0),
		"rng-outside":     dev(devRNG).init(v1, 1).desc(0, 0x20000-8, 64, write, 0).submit(0, 0),
		"rng-readable":    dev(devRNG).init(v1, 1).desc(0, fData, 64, 0, 0).submit(0, 0),
		"rng-no-features": dev(devRNG).init(0, 1).desc(0, fData, 64, write, 0).submit(0, 0),
		"rng-identify": dev(devRNG).r(virtiotest.RegMagic, 2).r(virtiotest.RegVersion, 2).r(virtiotest.RegDeviceID, 2).
			w(virtiotest.RegDeviceFeatSel, 1).r(virtiotest.RegDeviceFeatures, 2).r(virtiotest.RegMagic, 0).r(virtiotest.RegConfig, 3),
		"rng-bad-queue": dev(devRNG).w(virtiotest.RegStatus, 1).w(virtiotest.RegStatus, 3).
			w(virtiotest.RegDriverFeatSel, 1).w(virtiotest.RegDriverFeatures, 1).w(virtiotest.RegStatus, 11).
			w(virtiotest.RegQueueNum, 6).w(virtiotest.RegQueueReady, 1).r(virtiotest.RegStatus, 2),
		"rng-disable-live-queue": dev(devRNG).init(v1, 1).w(virtiotest.RegQueueReady, 0).
			desc(0, fData, 64, write, 0).submit(0, 0),
		"rng-kick-early": dev(devRNG).kick(0).kick(5).w(virtiotest.RegQueueNotify, 0),
		"rng-reset":      dev(devRNG).init(v1, 1).desc(0, fData, 64, write, 0).submit(0, 0).w(virtiotest.RegStatus, 0).kick(0),
		"blk-read":       blkReq(0, 1, 512, write),
		"blk-write":      blkReq(1, 2, 512, 0),
		"blk-flush": dev(devBlk).init(v1|flush, 1).blkHeader(4, 0).
			desc(0, fData, 16, next, 1).desc(1, fData+0x80, 1, write, 0).submit(0, 0),
		"blk-get-id":     blkReq(8, 0, 20, write),
		"blk-unknown":    blkReq(99, 0, 16, write),
		"blk-past-end":   blkReq(0, fuzzDiskSize/512-1, 1024, write),
		"blk-huge":       blkReq(0, 1<<62, 512, write),
		"blk-wrong-dir":  blkReq(0, 0, 512, 0),
		"blk-outside":    blkReq(0, 0, 0x1000, write).desc(1, 0xfffffffffffff000, 0x2000, write|next, 2).submit(1, 0),
		"blk-loop":       dev(devBlk).init(v1|flush, 1).desc(0, fData, 16, next, 1).desc(1, fData, 16, next, 0).submit(0, 0),
		"blk-config":     dev(devBlk).r(virtiotest.RegConfig, 3).r(virtiotest.RegConfig+4, 2).r(virtiotest.RegConfig+1, 0),
		"console-ready":  dev(devConsole).init(v1|multiport, 4).mem(fData, 0xff, 0xff, 0xff, 0xff, 0, 0, 1, 0),
		"console-output": dev(devConsole).init(v1|multiport, 6).desc(0, fData, 5, 0, 0).mem(fData, 'h', 'e', 'l', 'l', 'o').submit(0, 0),
		"console-control": dev(devConsole).init(v1|multiport, 4).mem(uint16(fDesc+3*0x400), 0, 0x40, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0).
			mem(fData, 0, 0, 0, 0, 0, 0, 1, 0).mem(fAvail+3*0x400+2, 1, 0).kick(3),
	}
	out := make(map[string][]any, len(seeds))
	for name, s := range seeds {
		out[name] = []any{[]byte(s)}
	}
	return out
}

func TestFuzzMMIOSeeds(t *testing.T) { fuzzcorpus.Check(t, "FuzzMMIO", mmioSeeds()) }

// FuzzMMIO drives the virtio-mmio transport around a real device (rng,
// blk over an in-memory disk, or a multiport console) with a sequence of
// register reads and writes of any width and offset, kicks, and writes
// to guest memory, so ring contents come from the input too. Besides not
// panicking and finishing with bounded work, it checks:
//
//   - the identification registers never change and the interrupt
//     status holds only the used-buffer bit;
//   - a queue the driver sets ready is ready, or the device reports
//     DEVICE_NEEDS_RESET (or ignores it: the device is already live);
//   - a queue that is live has a valid set-up, and the set-up of queues
//     handed to the device stays as it was while DRIVER_OK is set;
//   - a kick advances the used index by no more than the chains the
//     guest had made available (blk and rng: by exactly those, while
//     the rate allows);
//   - after anything, a reset and a clean driver get a working device.
func FuzzMMIO(f *testing.F) {
	for _, s := range mmioSeeds() {
		f.Add(s[0].([]byte))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &input{b: data}
		h := newMMIOHarness(t, in.u8()%devCount)
		for ops := 0; in.more() && ops < 512; ops++ {
			h.mem.calls = 0
			op := in.u8()
			width := 1 << (op >> 2 & 3)
			switch op & 3 {
			case mopWrite:
				off, v := uint64(in.u16()&0x1ff), in.u32()
				b := make([]byte, 8)
				binary.LittleEndian.PutUint32(b, v)
				h.tr.Write(off, b[:width])
				if off == virtiotest.RegQueueReady && width == 4 && v != 0 {
					h.checkReady()
				}
			case mopRead:
				h.read(uint64(in.u16()&0x1ff), width)
			case mopMem:
				addr := uint64(in.u16())
				h.m.WriteAt(in.bytes(int(in.u8())), addr)
			case mopKick:
				b := make([]byte, 4)
				binary.LittleEndian.PutUint32(b, uint32(op>>2))
				h.tr.Write(virtiotest.RegQueueNotify, b)
			}
			h.checkQueues()
		}
		h.checkUsable()
	})
}

type mmioHarness struct {
	t    *testing.T
	kind byte
	m    *memory.Memory
	mem  *countingMem
	dev  *watched
	tr   *virtio.MMIO
	irqs int
}

func newMMIOHarness(t *testing.T, kind byte) *mmioHarness {
	m := newFuzzMem(t)
	h := &mmioHarness{t: t, kind: kind, m: m}
	var dev virtio.Device
	var mem virtio.Memory
	switch kind {
	case devRNG:
		// Rate high enough that the fuzzer never waits for the
		// budget (FuzzRNG covers that): all processing stays in
		// Notify, on this goroutine.
		dev = rng.New(zeros{}, 1<<40)
	case devBlk:
		dev = blk.New(&memDisk{b: make([]byte, fuzzDiskSize)}, fuzzDiskSize, false, "fuzz")
	case devConsole:
		// Output and input ports run goroutines of their own.
		con := console.New([]console.Port{{Name: "in"}, {Name: "out", Out: io.Discard}})
		t.Cleanup(con.Close)
		dev = con
	}
	h.mem = &countingMem{t: t, m: m, budget: 1 << 24}
	mem = h.mem
	if kind == devConsole {
		mem = m // accessed from the device's goroutines: not counted
	}
	h.dev = &watched{Device: dev, h: h, strict: kind != devConsole}
	h.tr = virtio.NewMMIO(h.dev, mem, func() { h.irqs++ })
	t.Cleanup(h.tr.Reset) // before the memory goes (cleanups run last first)
	return h
}

func (h *mmioHarness) reg(off uint64) uint32 {
	b := make([]byte, 4)
	h.tr.Read(off, b)
	return binary.LittleEndian.Uint32(b)
}

func (h *mmioHarness) read(off uint64, width int) {
	b := make([]byte, width)
	h.tr.Read(off, b)
	if off >= virtiotest.RegConfig {
		return
	}
	v := uint64(0)
	for i := range b {
		v |= uint64(b[i]) << (8 * i)
	}
	if width != 4 || off%4 != 0 {
		if v != 0 {
			h.t.Fatalf("%d-byte read of register %#x = %#x, want 0 (registers are 32-bit)", width, off, v)
		}
		return
	}
	want := map[uint64]uint64{
		virtiotest.RegMagic: 0x74726976, virtiotest.RegVersion: 2,
		virtiotest.RegDeviceID: uint64(h.dev.Type()), 0x00c: 0x4c4f4d53,
	}
	if w, ok := want[off]; ok && v != w {
		h.t.Fatalf("register %#x = %#x, want %#x", off, v, w)
	}
	if off == virtiotest.RegInterruptStatus && v&^1 != 0 {
		h.t.Fatalf("interrupt status %#x: only the used-buffer bit may be set", v)
	}
}

// checkReady follows a QueueReady write.
func (h *mmioHarness) checkReady() {
	status := h.reg(virtiotest.RegStatus)
	sel := h.reg(virtiotest.RegQueueNumMax) // 0 for a queue that does not exist
	if sel != 0 && h.reg(virtiotest.RegQueueReady) != 1 && status&(virtiotest.StatusNeedsReset|virtiotest.StatusDriverOK) == 0 {
		h.t.Fatalf("QueueReady=1 left the queue not ready without DEVICE_NEEDS_RESET (status %#x)", status)
	}
}

// checkQueues: live queues the device holds are valid, and frozen while
// the driver is running them.
func (h *mmioHarness) checkQueues() {
	live := h.reg(virtiotest.RegStatus)&virtiotest.StatusDriverOK != 0
	for i, q := range h.dev.queues {
		if q.Ready {
			n := uint64(q.Size)
			if q.Size == 0 || q.Size > h.dev.QueueMax() || q.Size&(q.Size-1) != 0 ||
				q.Desc%16 != 0 || q.Avail%2 != 0 || q.Used%4 != 0 ||
				!inside(q.Desc, 16*n) || !inside(q.Avail, 6+2*n) || !inside(q.Used, 6+8*n) {
				h.t.Fatalf("queue %d is live with an invalid set-up: %+v", i, *q)
			}
		}
		if live && h.dev.snap != nil && h.dev.snap[i] != (queueSetup{q.Size, q.Desc, q.Avail, q.Used, q.Ready}) {
			h.t.Fatalf("queue %d changed while DRIVER_OK: %+v, activated with %+v", i, *q, h.dev.snap[i])
		}
	}
}

// checkUsable resets the device and runs one good request with a clean
// driver: nothing the input did may leave the device broken.
func (h *mmioHarness) checkUsable() {
	if h.kind == devConsole {
		return // its goroutines complete asynchronously; console_test covers it
	}
	clear(h.pageOf(fDesc))
	clear(h.pageOf(fAvail))
	clear(h.pageOf(fUsed))
	var s mmioSeed
	switch h.kind {
	case devRNG:
		s = s.init(virtio.FeatureVersion1, 1).desc(0, fData, 64, 2, 0)
	case devBlk:
		s = s.init(virtio.FeatureVersion1, 1).blkHeader(0, 0).
			desc(0, fData, 16, 1, 1).desc(1, fData+0x100, 512, 3, 2).desc(2, fData+0x80, 1, 2, 0)
	}
	h.run(s.submit(0, 0))
	var e [12]byte // flags, idx, ring[0].id, ring[0].len
	h.m.ReadAt(e[:], fUsed)
	if idx, n := binary.LittleEndian.Uint16(e[2:]), binary.LittleEndian.Uint32(e[8:]); idx != 1 {
		h.t.Fatalf("after a reset a good request was not completed (used idx %d, status %#x)", idx, h.reg(virtiotest.RegStatus))
	} else if want := map[byte]uint32{devRNG: 64, devBlk: 513}[h.kind]; n != want {
		h.t.Fatalf("after a reset a good request completed with %d bytes, want %d", n, want)
	}
}

func (h *mmioHarness) pageOf(addr uint64) []byte {
	b, err := h.m.Slice(addr, 0x1000)
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

// run executes a seed-format op sequence (used for the clean driver).
func (h *mmioHarness) run(s mmioSeed) {
	in := &input{b: s}
	for in.more() {
		op := in.u8()
		switch op & 3 {
		case mopWrite:
			off, v := uint64(in.u16()), in.u32()
			b := make([]byte, 4)
			binary.LittleEndian.PutUint32(b, v)
			h.tr.Write(off, b)
		case mopMem:
			addr := uint64(in.u16())
			h.m.WriteAt(in.bytes(int(in.u8())), addr)
		case mopKick:
			b := make([]byte, 4)
			binary.LittleEndian.PutUint32(b, uint32(op>>2))
			h.tr.Write(virtiotest.RegQueueNotify, b)
		}
	}
}

type queueSetup struct {
	size              uint16
	desc, avail, used uint64
	ready             bool
}

// watched wraps a device to see its queues and check each kick's
// effect on the used ring.
type watched struct {
	virtio.Device
	h      *mmioHarness
	strict bool // the device completes everything available in Notify
	queues []*virtio.Queue
	snap   []queueSetup
	used   map[int]uint16 // the used index each queue should be at
}

func (w *watched) Activate(features uint64, queues []*virtio.Queue, interrupt func(int)) {
	w.queues, w.snap, w.used = queues, nil, map[int]uint16{}
	for _, q := range queues {
		w.snap = append(w.snap, queueSetup{q.Size, q.Desc, q.Avail, q.Used, q.Ready})
	}
	w.Device.Activate(features, queues, interrupt)
}

func (w *watched) Reset() {
	w.queues, w.snap, w.used = nil, nil, nil
	w.Device.Reset()
}

func overlaps(a, an, b, bn uint64) bool { return a < b+bn && b < a+an }

func (w *watched) Notify(qi int) bool {
	if w.h.kind == devConsole || qi >= len(w.queues) || !w.queues[qi].Ready {
		return w.Device.Notify(qi)
	}
	q, m := w.queues[qi], w.h.m
	n := uint64(q.Size)
	if overlaps(q.Used, 6+8*n, q.Desc, 16*n) || overlaps(q.Used, 6+8*n, q.Avail, 6+2*n) {
		return w.Device.Notify(qi) // the device's own writes change the rings: no accounting
	}
	u16 := func(addr uint64) uint16 {
		var b [2]byte
		m.ReadAt(b[:], addr)
		return binary.LittleEndian.Uint16(b[:])
	}
	// The device never reads the used index; put there what it should
	// hold, so a change shows what this kick did.
	shadow := w.used[qi]
	m.WriteAt([]byte{byte(shadow), byte(shadow >> 8)}, q.Used+2)
	avail := u16(q.Avail + 2)
	ret := w.Device.Notify(qi)
	after := u16(q.Used + 2)
	w.used[qi] = after
	if u16(q.Avail+2) != avail {
		return ret // a buffer the device filled overlaps the avail index
	}
	did, pending := after-shadow, avail-shadow
	if did > pending {
		w.h.t.Fatalf("queue %d: a kick completed %d chains with %d available", qi, did, pending)
	}
	if w.strict && did != pending {
		w.h.t.Fatalf("queue %d: a kick completed %d of %d available chains", qi, did, pending)
	}
	if ret != (did > 0) {
		w.h.t.Fatalf("queue %d: Notify returned %v after completing %d chains", qi, ret, did)
	}
	return ret
}

// zeros is an endless entropy source that costs nothing.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// memDisk is a fixed-size in-memory disk that fails the test on a write
// past its end.
type memDisk struct{ b []byte }

func (d *memDisk) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(d.b)) {
		return 0, io.ErrUnexpectedEOF
	}
	n := copy(p, d.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (d *memDisk) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(d.b)) {
		panic("virtio-blk wrote outside the disk")
	}
	return copy(d.b[off:], p), nil
}

func (d *memDisk) Sync() error { return nil }

// fakeDev is a device that only records what the transport gives it.
type fakeDev struct {
	queues    []*virtio.Queue
	interrupt func(int)
	activated int
}

func (d *fakeDev) Type() uint32              { return virtio.IDRNG }
func (d *fakeDev) Features() uint64          { return 0 }
func (d *fakeDev) Queues() int               { return 1 }
func (d *fakeDev) QueueMax() uint16          { return 8 }
func (d *fakeDev) ReadConfig(uint64, []byte) {}
func (d *fakeDev) Notify(int) bool           { return false }
func (d *fakeDev) Reset()                    {}
func (d *fakeDev) Activate(_ uint64, qs []*virtio.Queue, irq func(int)) {
	d.queues, d.interrupt = qs, irq
	d.activated++
}

// A running device reads its queues without the transport's lock (from
// ioeventfd and device goroutines): once DRIVER_OK is set, the driver
// must not be able to change a queue's size or rings under it, not even
// by clearing QueueReady or the status bits first (FuzzMMIO found this:
// QueueReady=0 then QueueNum=0 let a device goroutine divide by zero).
func TestLiveQueueFrozen(t *testing.T) {
	dev := &fakeDev{}
	h := &mmioHarness{t: t, m: newFuzzMem(t)}
	h.tr = virtio.NewMMIO(dev, h.m, func() {})
	h.run(mmioSeed{}.init(virtio.FeatureVersion1, 1))
	if dev.activated != 1 || !dev.queues[0].Ready {
		t.Fatalf("set-up failed: activated %d", dev.activated)
	}
	want := *dev.queues[0]
	h.run(mmioSeed{}.w(virtiotest.RegQueueReady, 0).w(virtiotest.RegQueueNum, 0).
		w(virtiotest.RegQueueDescLow, 0x20000).w(virtiotest.RegQueueReady, 1))
	h.run(mmioSeed{}.w(virtiotest.RegStatus, 1).w(virtiotest.RegQueueReady, 0).w(virtiotest.RegQueueNum, 2).
		w(virtiotest.RegStatus, 15))
	if got := *dev.queues[0]; got != want {
		t.Errorf("live queue changed: %+v, was %+v", got, want)
	}
	if dev.activated != 1 {
		t.Errorf("device activated %d times", dev.activated)
	}
	if st := h.reg(virtiotest.RegStatus); st != 15 {
		t.Errorf("status %#x after the driver tried to clear bits, want 0xf", st)
	}
	// After a reset the queue can be set up again.
	h.run(mmioSeed{}.w(virtiotest.RegStatus, 0).init(virtio.FeatureVersion1, 1))
	if dev.activated != 2 || !dev.queues[0].Ready {
		t.Errorf("no new set-up after reset (activated %d)", dev.activated)
	}
}

// A device that completes a request late (rng's timer, console's
// goroutines) may call its interrupt function after the driver reset
// the device: the queue is then not live, and the transport must neither
// read through it (it has no memory: this panicked) nor interrupt.
func TestLateInterruptAfterReset(t *testing.T) {
	dev := &fakeDev{}
	h := &mmioHarness{t: t, m: newFuzzMem(t)}
	h.tr = virtio.NewMMIO(dev, h.m, func() { h.irqs++ })
	h.run(mmioSeed{}.init(virtio.FeatureVersion1, 1))
	dev.interrupt(0)
	if h.irqs != 1 {
		t.Fatalf("%d interrupts for a live queue, want 1", h.irqs)
	}
	h.run(mmioSeed{}.w(virtiotest.RegStatus, 0))
	dev.interrupt(0)
	dev.queues[0].Push(0, 0)
	if h.irqs != 1 || h.reg(virtiotest.RegInterruptStatus) != 0 {
		t.Errorf("interrupt after reset: %d irqs, status %#x", h.irqs, h.reg(virtiotest.RegInterruptStatus))
	}
}
