package virtiotest

import (
	"testing"
	"time"

	"github.com/smolvm/smolvm/internal/virtio"
)

// Suite is the conformance suite every virtio device passes: transport
// identification, feature negotiation, queue set-up validation, reset,
// and malformed descriptor chains that must be consumed without harm.
// newDev returns a fresh device; good returns a well-formed request for
// it (descriptors allocated through d) that the device must complete.
func Suite(t *testing.T, newDev func(t *testing.T) virtio.Device, good func(d *Driver) []Desc) {
	// Devices may complete from their own goroutines.
	New := func(t testing.TB, dev virtio.Device) *Driver {
		d := New(t, dev)
		d.Wait = 2 * time.Second
		return d
	}
	t.Run("identification", func(t *testing.T) {
		dev := newDev(t)
		d := New(t, dev)
		if d.R(RegMagic) != 0x74726976 || d.R(RegVersion) != 2 || d.R(RegDeviceID) != dev.Type() {
			t.Fatalf("magic %#x version %d id %d", d.R(RegMagic), d.R(RegVersion), d.R(RegDeviceID))
		}
		if d.Features()&virtio.FeatureVersion1 == 0 {
			t.Fatal("VERSION_1 not offered")
		}
	})
	t.Run("negotiation", func(t *testing.T) {
		d := New(t, newDev(t))
		if st := d.Init(0, 8); st&StatusFeaturesOK != 0 {
			t.Error("a legacy driver (no VERSION_1) was accepted")
		}
		d = New(t, newDev(t))
		if st := d.Init(virtio.FeatureVersion1|1<<60, 8); st&StatusFeaturesOK != 0 {
			t.Error("a feature the device did not offer was accepted")
		}
		d = New(t, newDev(t))
		if st := d.Init(d.Features(), 8); st&StatusDriverOK == 0 || st&StatusNeedsReset != 0 {
			t.Errorf("status %#x after a correct set-up", st)
		}
	})
	t.Run("queue-setup", func(t *testing.T) {
		for name, q := range map[string]struct {
			size              uint16
			desc, avail, used uint64
		}{
			"size zero":             {0, DescAddr, AvailAddr, UsedAddr},
			"size not power of two": {6, DescAddr, AvailAddr, UsedAddr},
			"size above max":        {1024, DescAddr, AvailAddr, UsedAddr},
			"misaligned table":      {8, DescAddr + 1, AvailAddr, UsedAddr},
			"used ring outside RAM": {8, DescAddr, AvailAddr, MemSize - 8},
			"table past 2^64":       {8, ^uint64(0) - 15, AvailAddr, UsedAddr},
		} {
			d := New(t, newDev(t))
			d.Init(d.Features(), 8) // a good queue first, then a reset
			d.W(RegStatus, 0)
			d.W(RegStatus, StatusAck|StatusDriver)
			d.W(RegDriverFeatSel, 1)
			d.W(RegDriverFeatures, 1)
			d.W(RegStatus, StatusAck|StatusDriver|StatusFeaturesOK)
			d.SetupQueue(0, q.size, q.desc, q.avail, q.used)
			if d.R(RegQueueReady) != 0 || d.R(RegStatus)&StatusNeedsReset == 0 {
				t.Errorf("%s: queue went live (ready %d, status %#x)", name, d.R(RegQueueReady), d.R(RegStatus))
			}
		}
	})
	t.Run("reset", func(t *testing.T) {
		d := New(t, newDev(t))
		d.Init(d.Features(), 8)
		if n := d.Submit(good(d)...); n < 0 {
			t.Fatal("good request not completed")
		}
		d.W(RegStatus, 0)
		if d.R(RegStatus) != 0 || d.R(RegQueueReady) != 0 {
			t.Fatal("reset left state behind")
		}
		d2 := New(t, newDev(t))
		d2.Init(d2.Features(), 8)
		if n := d2.Submit(good(d2)...); n < 0 {
			t.Fatal("device not usable after reset")
		}
		// Kicks before DRIVER_OK are ignored.
		d3 := New(t, newDev(t))
		d3.W(RegQueueNotify, 0)
	})
	t.Run("malformed-chains", func(t *testing.T) {
		d := New(t, newDev(t))
		d.Init(d.Features(), 8)
		buf := d.Alloc(64, nil)
		for name, descs := range map[string][]Desc{
			"loop":             {{Addr: buf, Len: 16, Flags: FNext, Next: 1}, {Addr: buf, Len: 16, Flags: FNext, Next: 0}},
			"index past queue": {{Addr: buf, Len: 16, Flags: FNext, Next: 200}},
			"outside memory":   {{Addr: MemSize - 4, Len: 16, Flags: FWrite}},
			"huge length":      {{Addr: buf, Len: 0xffffffff, Flags: FWrite}},
			"indirect":         {{Addr: buf, Len: 16, Flags: FIndirect}},
			"readable after writable": {
				{Addr: buf, Len: 16, Flags: FWrite | FNext, Next: 1}, {Addr: buf, Len: 16}},
			"zero length": {{Addr: buf, Len: 0, Flags: FWrite}},
		} {
			if n := d.SubmitRaw(0, descs); n != 0 && name != "zero length" {
				t.Errorf("%s: used length %d, want 0 for a rejected chain", name, n)
			}
		}
		if n := d.SubmitRaw(9, []Desc{{Addr: buf, Len: 16, Flags: FWrite}}); n != 0 {
			t.Errorf("head past queue: used length %d, want 0", n)
		}
		if n := d.Submit(good(d)...); n <= 0 {
			t.Fatalf("device stopped working after malformed chains (used %d)", n)
		}
		if d.IRQs() == 0 {
			t.Error("no interrupt for used buffers")
		}
	})
}
