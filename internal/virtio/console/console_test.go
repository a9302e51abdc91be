package console

import (
	"bytes"
	"encoding/binary"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smolvm/smolvm/internal/virtio"
	"github.com/smolvm/smolvm/internal/virtio/virtiotest"
)

// endless is an input that never runs dry.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

func TestConformance(t *testing.T) {
	virtiotest.Suite(t, func(t *testing.T) virtio.Device {
		d := New([]Port{{Name: "stdin", In: endless{}}, {Name: "stdout", Out: io.Discard}})
		t.Cleanup(d.Close)
		return port0Open{d}
	}, func(d *virtiotest.Driver) []virtiotest.Desc {
		// Queue 0 is port 0's receive queue: a buffer for host input.
		return []virtiotest.Desc{{Addr: d.Alloc(16, nil), Len: 16, Flags: virtiotest.FWrite}}
	})
}

// port0Open stands for a guest that has port 0 open: the suite's driver
// does no control handshake, and input waits for the guest's PORT_OPEN.
type port0Open struct{ *Device }

func (o port0Open) Activate(features uint64, queues []*virtio.Queue, interrupt func(int)) {
	o.Device.Activate(features, queues, interrupt)
	o.mu.Lock()
	o.ports[0].open = true
	o.cond.Broadcast()
	o.mu.Unlock()
}

// rings drives every queue of a console through the transport, the way
// Linux's virtio_console does.
type rings struct {
	t    *testing.T
	d    *virtiotest.Driver
	q    map[int]*ring
	dev  *Device
	size uint16
}

type ring struct {
	desc, avail, used uint64
	next              uint16 // next free descriptor
	availIx, usedIx   uint16
}

func newRings(t *testing.T, ports []Port) *rings {
	dev := New(ports)
	t.Cleanup(dev.Close)
	r := &rings{t: t, d: virtiotest.New(t, dev), q: map[int]*ring{}, dev: dev, size: 16}
	d := r.d
	d.W(virtiotest.RegStatus, 0)
	d.W(virtiotest.RegStatus, virtiotest.StatusAck|virtiotest.StatusDriver)
	want := uint64(virtio.FeatureVersion1 | FeatureMultiport)
	if d.Features()&want != want {
		t.Fatalf("features %#x lack MULTIPORT", d.Features())
	}
	d.W(virtiotest.RegDriverFeatSel, 0)
	d.W(virtiotest.RegDriverFeatures, uint32(want))
	d.W(virtiotest.RegDriverFeatSel, 1)
	d.W(virtiotest.RegDriverFeatures, uint32(want>>32))
	d.W(virtiotest.RegStatus, virtiotest.StatusAck|virtiotest.StatusDriver|virtiotest.StatusFeaturesOK)
	for q := 0; q < dev.Queues(); q++ {
		rg := &ring{desc: d.Alloc(16*int(r.size), nil), avail: d.Alloc(6+2*int(r.size), nil), used: d.Alloc(6+8*int(r.size), nil)}
		r.q[q] = rg
		d.SetupQueue(uint32(q), r.size, rg.desc, rg.avail, rg.used)
	}
	d.W(virtiotest.RegStatus, virtiotest.StatusAck|virtiotest.StatusDriver|virtiotest.StatusFeaturesOK|virtiotest.StatusDriverOK)
	if st := d.R(virtiotest.RegStatus); st&virtiotest.StatusDriverOK == 0 {
		t.Fatalf("status %#x", st)
	}
	return r
}

// add makes one single-buffer chain available on queue q and kicks.
func (r *rings) add(q int, addr uint64, n int, writable bool) {
	rg := r.q[q]
	le := binary.LittleEndian
	b := make([]byte, 16)
	le.PutUint64(b[0:], addr)
	le.PutUint32(b[8:], uint32(n))
	if writable {
		le.PutUint16(b[12:], virtiotest.FWrite)
	}
	idx := rg.next % r.size
	rg.next++
	r.d.Mem.WriteAt(b, rg.desc+16*uint64(idx))
	le.PutUint16(b, idx)
	r.d.Mem.WriteAt(b[:2], rg.avail+4+2*uint64(rg.availIx%r.size))
	rg.availIx++
	le.PutUint16(b, rg.availIx)
	r.d.Mem.WriteAt(b[:2], rg.avail+2)
	r.d.W(virtiotest.RegQueueNotify, uint32(q))
}

// used waits up to wait for the next used element of queue q and returns
// its descriptor's address and length; ok is false on timeout.
func (r *rings) used(q int, wait time.Duration) (addr uint64, n int, ok bool) {
	rg := r.q[q]
	le := binary.LittleEndian
	deadline := time.Now().Add(wait)
	for le.Uint16(r.d.Bytes(rg.used+2, 2)) == rg.usedIx {
		if time.Now().After(deadline) {
			return 0, 0, false
		}
		time.Sleep(time.Millisecond)
	}
	e := r.d.Bytes(rg.used+4+8*uint64(rg.usedIx%r.size), 8)
	rg.usedIx++
	head := le.Uint32(e[0:])
	addr = le.Uint64(r.d.Bytes(rg.desc+16*uint64(head), 8))
	return addr, int(le.Uint32(e[4:])), true
}

type ctrlMsg struct {
	id           uint32
	event, value uint16
	name         string
}

func (r *rings) send(id uint32, event, value uint16) {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint32(b[0:], id)
	binary.LittleEndian.PutUint16(b[4:], event)
	binary.LittleEndian.PutUint16(b[6:], value)
	r.add(ctrlTX, r.d.Alloc(8, b), 8, false)
	if _, _, ok := r.used(ctrlTX, time.Second); !ok {
		r.t.Fatal("control message not consumed (the guest driver spins on this)")
	}
}

func (r *rings) recv() ctrlMsg {
	addr, n, ok := r.used(ctrlRX, 2*time.Second)
	if !ok {
		r.t.Fatal("no control message")
	}
	b := r.d.Bytes(addr, n)
	return ctrlMsg{binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint16(b[4:]), binary.LittleEndian.Uint16(b[6:]), string(b[8:])}
}

// handshake runs the driver's port discovery and returns what the
// device said.
func (r *rings) handshake(n int) []ctrlMsg {
	for range 12 {
		r.add(ctrlRX, r.d.Alloc(64, nil), 64, true)
	}
	r.send(0xffffffff, evDeviceReady, 1)
	var got []ctrlMsg
	for i := 0; i < n; i++ {
		m := r.recv()
		if m.event != evPortAdd || m.id != uint32(i) {
			r.t.Fatalf("message %d: %+v, want PORT_ADD %d", i, m, i)
		}
	}
	for i := 0; i < n; i++ {
		r.send(uint32(i), evPortReady, 1)
		got = append(got, r.recv()) // name
		if p := r.dev.ports[i]; p.Out != nil || p.In != nil {
			got = append(got, r.recv()) // open (or close, for ended input)
		}
	}
	return got
}

func TestPortsHandshakeAndInput(t *testing.T) {
	out := &bytes.Buffer{}
	r := newRings(t, []Port{{Name: "stdin", In: strings.NewReader("hello input")}, {Name: "stdout", Out: out}})
	if r.dev.Queues() != 6 {
		t.Fatalf("%d queues, want 6 (port 0, control, port 1)", r.dev.Queues())
	}
	got := r.handshake(2)
	want := []ctrlMsg{{0, evPortName, 0, "stdin"}, {0, evPortOpen, 1, ""}, {1, evPortName, 0, "stdout"}, {1, evPortOpen, 1, ""}}
	for i := range want {
		// stdin may already be closed (EOF) by the time it is named.
		if i < len(got) && got[i] != want[i] && !(got[i].event == evPortOpen && got[i].id == 0) {
			t.Errorf("control message %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	// Host input waits until a guest process opens the port (Linux
	// drops what arrives on a closed port), then reaches the guest's
	// receive buffer, then the port is closed from the host side (end
	// of file for the guest).
	buf := r.d.Alloc(64, nil)
	r.add(rxQueue(0), buf, 64, true)
	if _, _, ok := r.used(rxQueue(0), 200*time.Millisecond); ok {
		t.Fatal("input delivered before the guest opened the port")
	}
	r.send(0, evPortOpen, 1)
	addr, n, ok := r.used(rxQueue(0), 2*time.Second)
	if !ok || string(r.d.Bytes(addr, n)) != "hello input" {
		t.Fatalf("input: ok %v %q", ok, r.d.Bytes(addr, n))
	}
	sawClose := false
	for _, m := range got {
		sawClose = sawClose || (m.id == 0 && m.event == evPortOpen && m.value == 0)
	}
	for !sawClose {
		m := r.recv()
		sawClose = m.id == 0 && m.event == evPortOpen && m.value == 0
	}
	// Guest output reaches the host.
	r.add(txQueue(1), r.d.Alloc(5, []byte("out\n")), 4, false)
	if _, _, ok := r.used(txQueue(1), 2*time.Second); !ok {
		t.Fatal("output chain not returned")
	}
	r.dev.Drain()
	if out.String() != "out\n" {
		t.Errorf("host got %q", out.String())
	}
}

// A host reader that stops reading must not block the kick (the vCPU):
// the chain stays with the device until the host takes the data, then
// comes back with an interrupt. Nothing is lost or reordered.
func TestOutputBackpressure(t *testing.T) {
	pr, pw := io.Pipe()
	r := newRings(t, []Port{{Name: "stdin"}, {Name: "stdout", Out: pw}})
	r.handshake(2)
	var want bytes.Buffer
	start := time.Now()
	for i := range 8 {
		msg := bytes.Repeat([]byte{byte('a' + i)}, 1000)
		want.Write(msg)
		r.add(txQueue(1), r.d.Alloc(len(msg), msg), len(msg), false)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("kicks took %v with nobody reading the host side", d)
	}
	if _, _, ok := r.used(txQueue(1), 200*time.Millisecond); ok {
		t.Fatal("a chain was returned before the host took its data")
	}
	irqs := r.d.IRQs()
	var got bytes.Buffer
	var wg sync.WaitGroup
	wg.Go(func() { io.CopyN(&got, pr, int64(want.Len())) })
	for i := range 8 {
		if _, _, ok := r.used(txQueue(1), 2*time.Second); !ok {
			t.Fatalf("chain %d not returned after the reader resumed", i)
		}
	}
	wg.Wait()
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Error("output lost or reordered")
	}
	if r.d.IRQs() == irqs {
		t.Error("no interrupt for returned chains")
	}
}

// Drain returns only when everything made available was written.
func TestDrain(t *testing.T) {
	var mu sync.Mutex
	var out bytes.Buffer
	slow := writerFunc(func(p []byte) (int, error) {
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		return out.Write(p)
	})
	r := newRings(t, []Port{{Name: "stdin"}, {Name: "stdout", Out: slow}, {Name: "stderr", Out: slow}})
	r.handshake(3)
	for i := range 5 {
		r.add(txQueue(1), r.d.Alloc(2, []byte{'0' + byte(i), '\n'}), 2, false)
	}
	r.add(txQueue(2), r.d.Alloc(4, []byte("err\n")), 4, false)
	r.dev.Drain()
	mu.Lock()
	defer mu.Unlock()
	if out.Len() != 14 || !strings.HasPrefix(strings.ReplaceAll(out.String(), "err\n", ""), "0\n1\n2\n3\n4\n") {
		t.Errorf("after Drain the host has %q", out.String())
	}
}

// Reset or Close while a host write blocks: the device must not touch
// guest memory afterwards, and Close must not wait for the host.
func TestCloseWhileBlocked(t *testing.T) {
	pr, pw := io.Pipe()
	r := newRings(t, []Port{{Name: "stdin"}, {Name: "stdout", Out: pw}})
	r.handshake(2)
	r.add(txQueue(1), r.d.Alloc(3, []byte("abc")), 3, false)
	time.Sleep(50 * time.Millisecond)
	done := make(chan struct{})
	go func() { r.dev.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close waited for a blocked host write")
	}
	buf := make([]byte, 3)
	io.ReadFull(pr, buf)
	time.Sleep(50 * time.Millisecond)
	if _, _, ok := r.used(txQueue(1), 100*time.Millisecond); ok {
		t.Error("a chain was returned to the guest after Close")
	}
}

// Garbage control messages and kicks of queues that do not exist are
// ignored.
func TestControlGarbage(t *testing.T) {
	r := newRings(t, []Port{{Name: "stdin"}, {Name: "stdout", Out: io.Discard}})
	for range 4 {
		r.add(ctrlRX, r.d.Alloc(64, nil), 64, true)
	}
	r.send(99, evPortReady, 1)                             // no such port
	r.send(0, 0xffff, 7)                                   // unknown event
	r.add(ctrlTX, r.d.Alloc(3, []byte{1, 2, 3}), 3, false) // short message
	if _, _, ok := r.used(ctrlTX, time.Second); !ok {
		t.Fatal("short control message not consumed")
	}
	r.d.W(virtiotest.RegQueueNotify, 1000)
	if _, _, ok := r.used(ctrlRX, 100*time.Millisecond); ok {
		t.Error("the device answered garbage")
	}
	r.send(0xffffffff, evDeviceReady, 1)
	if m := r.recv(); m.event != evPortAdd {
		t.Errorf("after garbage, DEVICE_READY answered with %+v", m)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
