package blk

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/smolvm/smolvm/internal/virtio"
	"github.com/smolvm/smolvm/internal/virtio/virtiotest"
)

const diskSize = 64 << 10

func header(typ uint32, sector uint64) []byte {
	h := make([]byte, headerSize)
	binary.LittleEndian.PutUint32(h[0:], typ)
	binary.LittleEndian.PutUint64(h[8:], sector)
	return h
}

// request builds header, data and status descriptors.
func request(d *virtiotest.Driver, typ uint32, sector uint64, data []byte, n int, write bool) (descs []virtiotest.Desc, dataAddr, statusAddr uint64) {
	h := d.Alloc(headerSize, header(typ, sector))
	descs = append(descs, virtiotest.Desc{Addr: h, Len: headerSize})
	if n > 0 {
		dataAddr = d.Alloc(n, data)
		f := uint16(0)
		if write {
			f = virtiotest.FWrite
		}
		descs = append(descs, virtiotest.Desc{Addr: dataAddr, Len: uint32(n), Flags: f})
	}
	statusAddr = d.Alloc(1, []byte{0xff})
	descs = append(descs, virtiotest.Desc{Addr: statusAddr, Len: 1, Flags: virtiotest.FWrite})
	return descs, dataAddr, statusAddr
}

func tempDisk(t *testing.T) *os.File {
	f, err := os.Create(filepath.Join(t.TempDir(), "disk"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	content := bytes.Repeat([]byte{0x5a}, diskSize)
	copy(content[512:], "sector one")
	f.Write(content)
	return f
}

func TestConformance(t *testing.T) {
	virtiotest.Suite(t,
		func(t *testing.T) virtio.Device { f := tempDisk(t); return New(f, diskSize, false, "disk0") },
		func(d *virtiotest.Driver) []virtiotest.Desc {
			descs, _, _ := request(d, typeIn, 0, nil, 512, true)
			return descs
		})
}

func setup(t *testing.T, dev *Device) *virtiotest.Driver {
	d := virtiotest.New(t, dev)
	if st := d.Init(d.Features(), 8); st&virtiotest.StatusDriverOK == 0 {
		t.Fatalf("status %#x", st)
	}
	return d
}

func TestReadWriteFlushID(t *testing.T) {
	f := tempDisk(t)
	d := setup(t, New(f, diskSize, false, "root"))

	descs, data, status := request(d, typeIn, 1, nil, 512, true)
	if n := d.Submit(descs...); n != 513 {
		t.Fatalf("read used %d, want 513", n)
	}
	if got := d.Bytes(data, 10); string(got) != "sector one" || d.Bytes(status, 1)[0] != statusOK {
		t.Fatalf("read %q status %d", got, d.Bytes(status, 1)[0])
	}

	descs, _, status = request(d, typeOut, 2, []byte("written by the guest"), 512, false)
	if n := d.Submit(descs...); n != 1 || d.Bytes(status, 1)[0] != statusOK {
		t.Fatalf("write used %d status %d", n, d.Bytes(status, 1)[0])
	}
	descs, _, status = request(d, typeFlush, 0, nil, 0, false)
	if n := d.Submit(descs...); n != 1 || d.Bytes(status, 1)[0] != statusOK {
		t.Fatalf("flush used %d status %d", n, d.Bytes(status, 1)[0])
	}
	got := make([]byte, 20)
	f.ReadAt(got, 1024)
	if string(got) != "written by the guest" {
		t.Fatalf("file holds %q", got)
	}

	descs, data, _ = request(d, typeGetID, 0, nil, idSize, true)
	if n := d.Submit(descs...); n != idSize+1 || string(d.Bytes(data, 4)) != "root" {
		t.Fatalf("get id used %d id %q", n, d.Bytes(data, 4))
	}
	var cfg [8]byte
	d.MMIO.Read(virtiotest.RegConfig, cfg[:])
	if binary.LittleEndian.Uint64(cfg[:]) != diskSize/512 {
		t.Fatalf("capacity %d sectors", binary.LittleEndian.Uint64(cfg[:]))
	}
}

func TestBadRequests(t *testing.T) {
	f := tempDisk(t)
	before := make([]byte, diskSize)
	f.ReadAt(before, 0)
	ro := setup(t, New(f, diskSize, true, ""))
	if ro.Features()&featureRO == 0 {
		t.Fatal("read-only disk does not offer VIRTIO_BLK_F_RO")
	}
	rw := setup(t, New(f, diskSize, false, ""))
	for name, tc := range map[string]struct {
		d      *virtiotest.Driver
		typ    uint32
		sector uint64
		n      int
		write  bool
		want   byte
	}{
		"write to read-only":     {ro, typeOut, 0, 512, false, statusIOErr},
		"read past the end":      {rw, typeIn, diskSize/512 - 1, 1024, true, statusIOErr},
		"write past the end":     {rw, typeOut, diskSize / 512, 512, false, statusIOErr},
		"huge sector":            {rw, typeIn, 1 << 62, 512, true, statusIOErr},
		"read into readable buf": {rw, typeIn, 0, 512, false, statusIOErr},
		"unknown type":           {rw, 99, 0, 0, false, statusUnsupp},
	} {
		descs, _, status := request(tc.d, tc.typ, tc.sector, nil, tc.n, tc.write)
		if n := tc.d.Submit(descs...); n < 1 {
			t.Errorf("%s: used %d", name, n)
		}
		if got := tc.d.Bytes(status, 1)[0]; got != tc.want {
			t.Errorf("%s: status %d, want %d", name, got, tc.want)
		}
	}
	// Header cut short: status must still be written, nothing else done.
	h := rw.Alloc(8, header(typeOut, 0)[:8])
	st := rw.Alloc(1, nil)
	if n := rw.Submit(virtiotest.Desc{Addr: h, Len: 8}, virtiotest.Desc{Addr: st, Len: 1, Flags: virtiotest.FWrite}); n != 1 || rw.Bytes(st, 1)[0] != statusIOErr {
		t.Errorf("short header: used %d status %d", n, rw.Bytes(st, 1)[0])
	}
	after := make([]byte, diskSize)
	f.ReadAt(after, 0)
	if !bytes.Equal(before, after) {
		t.Error("a refused request changed the disk")
	}
}

// FuzzBlk submits arbitrary descriptor tables and headers: the device
// must never panic, never write the backing file out of range, and
// keep serving well-formed requests afterwards.
func FuzzBlk(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 0, 0, 0}, uint8(2), uint16(0))
	f.Add(header(typeOut, 3), uint8(3), uint16(1))
	f.Add(header(typeIn, 1<<40), uint8(1), uint16(7))
	f.Fuzz(func(t *testing.T, raw []byte, ndesc uint8, head uint16) {
		disk := &memDisk{b: make([]byte, diskSize)}
		d := setup(t, New(disk, diskSize, false, "f"))
		buf := d.Alloc(4096, raw)
		var descs []virtiotest.Desc
		for i := 0; i < int(ndesc%10); i++ {
			var x [16]byte
			copy(x[:], raw[min(len(raw), i*4):])
			descs = append(descs, virtiotest.Desc{
				Addr:  buf + uint64(binary.LittleEndian.Uint16(x[0:]))%8192,
				Len:   uint32(binary.LittleEndian.Uint16(x[2:])),
				Flags: binary.LittleEndian.Uint16(x[4:]) & 7,
				Next:  binary.LittleEndian.Uint16(x[6:]) % 16,
			})
		}
		d.SubmitRaw(head%8, descs)
		if len(disk.b) != diskSize {
			t.Fatalf("disk grew to %d bytes", len(disk.b))
		}
		good, data, status := request(d, typeIn, 0, nil, 512, true)
		if n := d.Submit(good...); n != 513 || d.Bytes(status, 1)[0] != statusOK {
			t.Fatalf("device broken after fuzz input: used %d", n)
		}
		_ = data
	})
}

// memDisk is a fixed-size in-memory disk that refuses writes past its end.
type memDisk struct{ b []byte }

func (m *memDisk) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(m.b)) {
		return 0, os.ErrInvalid
	}
	return copy(p, m.b[off:]), nil
}

func (m *memDisk) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(m.b)) {
		panic("write outside the disk")
	}
	return copy(m.b[off:], p), nil
}

func (m *memDisk) Sync() error { return nil }

// TestSegmentsAndTopology: the device offers SEG_MAX and TOPOLOGY with
// their config fields where virtio puts them, and serves a request of
// SegMax scattered buffers (what Linux sends once it may) in order.
func TestSegmentsAndTopology(t *testing.T) {
	f := tempDisk(t)
	d := setup(t, New(f, diskSize, false, ""))
	if d.Features()&(featureSegMax|featureTopology) != featureSegMax|featureTopology {
		t.Fatalf("features %#x lack SEG_MAX or TOPOLOGY", d.Features())
	}
	var cfg [32]byte
	d.MMIO.Read(virtiotest.RegConfig, cfg[:])
	if got := binary.LittleEndian.Uint32(cfg[12:]); got != SegMax {
		t.Errorf("seg_max %d, want %d", got, SegMax)
	}
	if got := binary.LittleEndian.Uint32(cfg[28:]); got != OptIOSize/512 {
		t.Errorf("opt_io_size %d sectors, want %d", got, OptIOSize/512)
	}
	if SegMax+2 > queueSize {
		t.Fatalf("a request of SegMax buffers needs %d descriptors; the queue has %d", SegMax+2, queueSize)
	}

	// One request of SegMax buffers of 512 bytes each, allocated apart
	// so they are not contiguous, in a queue of the largest size.
	d = virtiotest.New(t, New(f, diskSize, false, ""))
	if st := d.Init(d.Features(), queueSize); st&virtiotest.StatusDriverOK == 0 {
		t.Fatalf("status %#x", st)
	}
	descs := []virtiotest.Desc{{Addr: d.Alloc(headerSize, header(typeIn, 0)), Len: headerSize}}
	var bufs []uint64
	for i := 0; i < SegMax; i++ {
		b := d.Alloc(512, nil)
		d.Alloc(64, nil) // a gap
		bufs = append(bufs, b)
		descs = append(descs, virtiotest.Desc{Addr: b, Len: 512, Flags: virtiotest.FWrite})
	}
	status := d.Alloc(1, []byte{0xff})
	descs = append(descs, virtiotest.Desc{Addr: status, Len: 1, Flags: virtiotest.FWrite})
	if n := d.Submit(descs...); n != SegMax*512+1 || d.Bytes(status, 1)[0] != statusOK {
		t.Fatalf("used %d status %d, want %d %d", n, d.Bytes(status, 1)[0], SegMax*512+1, statusOK)
	}
	want := make([]byte, SegMax*512)
	f.ReadAt(want, 0)
	for i, b := range bufs {
		if got := d.Bytes(b, 512); !bytes.Equal(got, want[i*512:(i+1)*512]) {
			t.Fatalf("buffer %d holds sector %d's data wrongly", i, i)
		}
	}
}
