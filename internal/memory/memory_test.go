package memory

import (
	"errors"
	"testing"
)

func TestSliceBounds(t *testing.T) {
	m, err := New(Range{0, 0x10000}, Range{0x100000, 0x2000})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tests := []struct {
		addr, n uint64
		ok      bool
	}{
		{0, 0, true},
		{0, 0x10000, true},
		{0xffff, 1, true},
		{0xffff, 2, false},       // crosses the end of region 0
		{0x10000, 0, true},       // empty slice at the end is fine
		{0x10000, 1, false},      // the gap
		{0x100000, 0x2000, true}, // all of region 1
		{0x101fff, 2, false},     // past region 1
		{^uint64(0), 2, false},   // wraps around
		{0x100000, ^uint64(0), false},
	}
	for _, tt := range tests {
		_, err := m.Slice(tt.addr, tt.n)
		if (err == nil) != tt.ok {
			t.Errorf("Slice(%#x, %#x) err = %v, want ok=%v", tt.addr, tt.n, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrOutOfRange) {
			t.Errorf("Slice(%#x, %#x) err = %v, want ErrOutOfRange", tt.addr, tt.n, err)
		}
	}
}

func TestReadWrite(t *testing.T) {
	m, err := New(Range{0x1000, 0x1000})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.WriteAt([]byte("smol"), 0x1ffc); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	if err := m.ReadAt(b, 0x1ffc); err != nil || string(b) != "smol" {
		t.Fatalf("ReadAt = %q, %v", b, err)
	}
	if err := m.WriteAt([]byte("x"), 0x2000); err == nil {
		t.Fatal("write past the end succeeded")
	}
}

func TestNewRejectsBadRanges(t *testing.T) {
	if _, err := New(Range{0, 100}); err == nil {
		t.Error("unaligned size accepted")
	}
	if _, err := New(Range{0, 0x2000}, Range{0x1000, 0x1000}); err == nil {
		t.Error("overlap accepted")
	}
}
