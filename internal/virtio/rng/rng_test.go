package rng

import (
	"bytes"
	"testing"
	"time"

	"github.com/smolvm/smolvm/internal/virtio"
	"github.com/smolvm/smolvm/internal/virtio/virtiotest"
)

func TestConformance(t *testing.T) {
	virtiotest.Suite(t,
		func(t *testing.T) virtio.Device { return New(nil, 0) },
		func(d *virtiotest.Driver) []virtiotest.Desc {
			return []virtiotest.Desc{{Addr: d.Alloc(64, nil), Len: 64, Flags: virtiotest.FWrite}}
		})
}

func TestFillsFromSource(t *testing.T) {
	dev := New(bytes.NewReader(bytes.Repeat([]byte{0xab}, 1024)), 1000)
	d := virtiotest.New(t, dev)
	d.Init(d.Features(), 8)
	buf := d.Alloc(32, nil)
	if n := d.Submit(virtiotest.Desc{Addr: buf, Len: 32, Flags: virtiotest.FWrite}); n != 32 {
		t.Fatalf("used %d, want 32", n)
	}
	if !bytes.Equal(d.Bytes(buf, 32), bytes.Repeat([]byte{0xab}, 32)) {
		t.Fatal("buffer not filled from the source")
	}
}

func TestRateCapped(t *testing.T) {
	clock := time.Unix(0, 0)
	dev := New(nil, 100) // 100 bytes per second
	dev.now = func() time.Time { return clock }
	d := virtiotest.New(t, dev)
	d.Init(d.Features(), 8)
	buf := d.Alloc(4096, nil)
	if n := d.Submit(virtiotest.Desc{Addr: buf, Len: 4096, Flags: virtiotest.FWrite}); n != 100 {
		t.Fatalf("first request got %d bytes, want the 100-byte budget", n)
	}
	if n := d.Submit(virtiotest.Desc{Addr: buf, Len: 4096, Flags: virtiotest.FWrite}); n != -1 {
		t.Fatalf("with the budget spent the request was used (%d); it must wait", n)
	}
	// The guest does not kick again: the device must come back by
	// itself once the budget refills, and interrupt.
	irqs := d.IRQs()
	dev.mu.Lock()
	clock = clock.Add(500 * time.Millisecond)
	dev.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for d.Bytes(virtiotest.UsedAddr+2, 2)[0] != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the waiting request was never served")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if d.IRQs() == irqs {
		t.Error("no interrupt for the late completion")
	}
}
