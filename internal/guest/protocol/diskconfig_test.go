package protocol

import (
	"bytes"
	"errors"
	"testing"
)

func TestDiskConfigRoundTrip(t *testing.T) {
	for _, fsSize := range []int64{0, 1, 511, 512, 4096, 4097} {
		for _, js := range [][]byte{nil, []byte(`{}`), bytes.Repeat([]byte("x"), 512), bytes.Repeat([]byte("y"), 513)} {
			tail, err := DiskConfigTail(fsSize, js)
			if err != nil {
				t.Fatal(err)
			}
			disk := append(bytes.Repeat([]byte{0xee}, int(fsSize)), tail...)
			if len(disk)%DiskSector != 0 {
				t.Fatalf("fs %d json %d: disk of %d bytes is not whole sectors", fsSize, len(js), len(disk))
			}
			got, err := ReadDiskConfig(bytes.NewReader(disk), int64(len(disk)))
			if err != nil || !bytes.Equal(got, js) {
				t.Errorf("fs %d json %d: got %d bytes, %v", fsSize, len(js), len(got), err)
			}
			if !bytes.Equal(disk[:fsSize], bytes.Repeat([]byte{0xee}, int(fsSize))) {
				t.Errorf("fs %d: the tail overlaps the filesystem", fsSize)
			}
		}
	}
	if _, err := DiskConfigTail(0, make([]byte, MaxDiskConfig+1)); err == nil {
		t.Error("a configuration over MaxDiskConfig was accepted")
	}
}

func TestReadDiskConfigHostile(t *testing.T) {
	trailer := func(n uint32) []byte {
		b := make([]byte, DiskSector)
		copy(b, DiskConfigMagic)
		b[8], b[9], b[10], b[11] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
		return b
	}
	for _, c := range []struct {
		name string
		disk []byte
		want error // nil: any error
	}{
		{"empty", nil, ErrNoDiskConfig},
		{"not whole sectors", make([]byte, 700), ErrNoDiskConfig},
		{"no magic", make([]byte, 2048), ErrNoDiskConfig},
		{"length past the disk", trailer(4096), nil},
		{"length past the limit", append(make([]byte, MaxDiskConfig+DiskSector), trailer(MaxDiskConfig+1)...), nil},
		{"length 2^32-1", trailer(0xffffffff), nil},
	} {
		_, err := ReadDiskConfig(bytes.NewReader(c.disk), int64(len(c.disk)))
		if err == nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
	}
}

// FuzzDiskConfig: whatever the device holds, ReadDiskConfig returns
// JSON no larger than the limit and the disk, or an error; it never
// reads outside the device.
func FuzzDiskConfig(f *testing.F) {
	tail, _ := DiskConfigTail(100, []byte(`{"argv":["x"]}`))
	f.Add(append(make([]byte, 100), tail...))
	f.Add(make([]byte, 1024))
	f.Fuzz(func(t *testing.T, disk []byte) {
		js, err := ReadDiskConfig(boundedReader{disk, t}, int64(len(disk)))
		if err == nil && (len(js) > MaxDiskConfig || len(js) > len(disk)) {
			t.Fatalf("%d bytes of configuration from a %d-byte disk", len(js), len(disk))
		}
	})
}

type boundedReader struct {
	b []byte
	t *testing.T
}

func (r boundedReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(r.b)) {
		r.t.Fatalf("read of %d bytes at %d outside a %d-byte device", len(p), off, len(r.b))
	}
	return copy(p, r.b[off:]), nil
}
