package loader

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/smolvm/smolvm/internal/loader/loadertest"
	"github.com/smolvm/smolvm/internal/memory"
)

func newMem(t *testing.T) *memory.Memory {
	m, err := memory.New(memory.Range{Addr: 0, Size: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestLoadKernel(t *testing.T) {
	for _, descsz := range []int{4, 8} {
		m := newMem(t)
		s, _ := m.Slice(0x200000, 0x200)
		for i := range s {
			s[i] = 0xee // must be zeroed past the file data (bss)
		}
		k, err := LoadKernel(m, loadertest.ELF(0x200000, []byte{1, 2, 3}, true, descsz))
		if err != nil {
			t.Fatal(err)
		}
		if k.Entry != 0x200000 || k.End != 0x200103 {
			t.Errorf("descsz %d: entry %#x end %#x", descsz, k.Entry, k.End)
		}
		if s[0] != 1 || s[2] != 3 || s[3] != 0 || s[0x102] != 0 || s[0x103] != 0xee {
			t.Errorf("descsz %d: segment not copied and zero-filled: % x", descsz, s[:8])
		}
	}
}

func TestLoadKernelErrors(t *testing.T) {
	m := newMem(t)
	bz := make([]byte, 0x300)
	copy(bz[0x202:], "HdrS")
	good := loadertest.ELF(0x200000, []byte{1}, true, 4)
	tests := []struct {
		name  string
		image []byte
		want  string
	}{
		{"no PVH note", loadertest.ELF(0x200000, []byte{1}, false, 4), "PVH"},
		{"bzImage", bz, "bzImage"},
		{"not ELF", []byte("hello world"), "not an ELF"},
		{"truncated", good[:0x1000], "outside"},
		{"beyond memory", loadertest.ELF(0x3fffff, []byte{1, 2}, true, 4), "does not fit"},
	}
	for _, tt := range tests {
		_, err := LoadKernel(m, tt.image)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tt.name, err, tt.want)
		}
	}
	if _, err := LoadKernel(m, loadertest.ELF(0x200000, []byte{1}, false, 4)); !errors.Is(err, ErrNoPVH) {
		t.Errorf("err = %v, want ErrNoPVH", err)
	}
}

func TestInitrdAddr(t *testing.T) {
	addr, err := InitrdAddr(4, 0x100000, 4<<20, 0x1000)
	if err != nil || addr != (4<<20)-0x1000 {
		t.Fatalf("addr %#x err %v", addr, err)
	}
	if _, err := InitrdAddr(3<<20, 2<<20, 4<<20, 0x1000); err == nil {
		t.Fatal("initrd overlapping the kernel accepted")
	}
	if _, err := InitrdAddr(5<<20, 0, 4<<20, 0x1000); err == nil {
		t.Fatal("initrd larger than memory accepted")
	}
}

// FuzzLoadKernel: a user-supplied kernel (--kernel) is untrusted input:
// any bytes must give a kernel or an error, never a panic or a write
// outside guest memory.
func FuzzLoadKernel(f *testing.F) {
	f.Add(loadertest.ELF(0x200000, []byte{1, 2, 3}, true, 4))
	f.Add(loadertest.ELF(0x200000, []byte{1}, true, 8))
	f.Add(loadertest.ELF(0x200000, []byte{1}, false, 4))
	f.Fuzz(func(t *testing.T, image []byte) {
		m, err := memory.New(memory.Range{Addr: 0, Size: 4 << 20})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		LoadKernel(m, image)
	})
}

func TestFlattenRoundTrip(t *testing.T) {
	elfImg := loadertest.ELF(0x200000, []byte{9, 8, 7}, true, 8)
	flat, err := Flatten(elfImg)
	if err != nil {
		t.Fatal(err)
	}
	if !IsFlat(flat) || IsFlat(elfImg) {
		t.Fatal("IsFlat wrong")
	}
	m1, m2 := newMem(t), newMem(t)
	k1, err1 := LoadKernel(m1, elfImg)
	k2, err2 := LoadFlat(m2, bytes.NewReader(flat))
	if err1 != nil || err2 != nil || *k1 != *k2 {
		t.Fatalf("ELF %+v %v, flat %+v %v", k1, err1, k2, err2)
	}
	a, _ := m1.Slice(0x200000, 0x200)
	b, _ := m2.Slice(0x200000, 0x200)
	if !bytes.Equal(a, b) {
		t.Fatal("flat load differs from ELF load")
	}
	for cut := 0; cut < len(flat); cut += 7 {
		if _, err := LoadFlat(newMem(t), bytes.NewReader(flat[:cut])); err == nil {
			t.Fatalf("truncated flat kernel (%d bytes) accepted", cut)
		}
	}
}

// FuzzLoadFlat: the flat kernel comes from an image (digest-checked, but
// an image is user input): no panic, no write outside guest memory.
func FuzzLoadFlat(f *testing.F) {
	flat, _ := Flatten(loadertest.ELF(0x200000, []byte{1, 2, 3}, true, 4))
	f.Add(flat)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := memory.New(memory.Range{Addr: 0, Size: 4 << 20})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		LoadFlat(m, bytes.NewReader(b))
	})
}
