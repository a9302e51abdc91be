package memory

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

func TestMapFileAndZero(t *testing.T) {
	m, err := New(Range{Addr: 0x100000, Size: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	page := bytes.Repeat([]byte{5}, 8192)
	f.Write(page)
	if err := m.MapFile(0x101000, 8192, f, 0); err != nil {
		t.Fatal(err)
	}
	b, _ := m.Slice(0x101000, 8192)
	if !bytes.Equal(b, page) {
		t.Fatal("mapped file bytes not seen in guest memory")
	}
	b[0] = 6 // private: the file keeps its byte
	var one [1]byte
	f.ReadAt(one[:], 0)
	if one[0] != 5 {
		t.Fatal("guest write reached the file")
	}
	if err := m.MapZero(0x101000, 4096); err != nil || b[0] != 0 || b[4096] != 5 {
		t.Fatalf("MapZero: %v, bytes %d %d", err, b[0], b[4096])
	}
	for _, r := range [][2]uint64{{0x101001, 4096}, {0x101000, 100}, {0x100000 + 4<<20 - 4096, 8192}, {0, 4096}, {0x101000, 0}} {
		if err := m.MapFile(r[0], r[1], f, 0); err == nil {
			t.Errorf("MapFile(%#x, %#x) accepted", r[0], r[1])
		}
		if err := m.MapZero(r[0], r[1]); err == nil {
			t.Errorf("MapZero(%#x, %#x) accepted", r[0], r[1])
		}
	}
}

// NoHugePages leaves its advice on the host mapping (VmFlags "nh").
func TestNoHugePages(t *testing.T) {
	m, err := New(Range{Addr: 0, Size: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.NoHugePages(0, 2<<20)
	start := m.Regions()[0].HostAddr()
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	head := fmt.Sprintf("%x-", start)
	i := strings.Index(string(smaps), head)
	if i < 0 {
		t.Fatalf("no mapping at %#x in smaps", start)
	}
	rest := string(smaps[i:])
	flags := rest[strings.Index(rest, "VmFlags:"):]
	flags = flags[:strings.Index(flags, "\n")]
	if !strings.Contains(flags, " nh") {
		t.Errorf("first 2 MiB: %s, want nh", flags)
	}
}
