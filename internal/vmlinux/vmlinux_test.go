package vmlinux

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/smolvm/smolvm/internal/loader"
	"github.com/smolvm/smolvm/internal/loader/loadertest"
)

func TestLoad(t *testing.T) {
	for _, descsz := range []int{4, 8} {
		m := loadertest.Memory(t)
		s, _ := m.Slice(0x200000, 0x200)
		for i := range s {
			s[i] = 0xee // must be zeroed past the file data (bss)
		}
		k, err := Load(m, loadertest.ELF(0x200000, []byte{1, 2, 3}, true, descsz))
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

func TestLoadErrors(t *testing.T) {
	m := loadertest.Memory(t)
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
		_, err := Load(m, tt.image)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tt.name, err, tt.want)
		}
		// Check and Flatten refuse what Load refuses, except memory
		// limits, which only a VM has.
		if tt.name != "beyond memory" {
			if _, err := Flatten(tt.image); err == nil {
				t.Errorf("%s: Flatten accepted it", tt.name)
			}
		}
	}
	if _, err := Load(m, loadertest.ELF(0x200000, []byte{1}, false, 4)); !errors.Is(err, loader.ErrNoPVH) {
		t.Errorf("err = %v, want ErrNoPVH", err)
	}
}

// FuzzLoad: a user-supplied kernel (--kernel) is untrusted input: any
// bytes must give a kernel or an error, never a panic or a write outside
// guest memory; what loads also flattens and loads the same way.
func FuzzLoad(f *testing.F) {
	f.Add(loadertest.ELF(0x200000, []byte{1, 2, 3}, true, 4))
	f.Add(loadertest.ELF(0x200000, []byte{1}, true, 8))
	f.Add(loadertest.ELF(0x200000, []byte{1}, false, 4))
	f.Fuzz(func(t *testing.T, image []byte) {
		m := loadertest.Memory(t)
		k, err := Load(m, image)
		if err != nil {
			return
		}
		flat, err := Flatten(image)
		if err != nil {
			t.Fatalf("Load accepted the kernel, Flatten did not: %v", err)
		}
		m2 := loadertest.Memory(t)
		k2, err := loader.LoadFlat(m2, bytes.NewReader(flat))
		if err != nil || *k2 != *k {
			t.Fatalf("flat kernel loads as %+v, %v; ELF as %+v", k2, err, k)
		}
	})
}

// The flat kernel loads to the same memory and entry point as the ELF
// it came from.
func TestFlattenRoundTrip(t *testing.T) {
	elfImg := loadertest.ELF(0x200000, []byte{9, 8, 7}, true, 8)
	flat, err := Flatten(elfImg)
	if err != nil {
		t.Fatal(err)
	}
	if !loader.IsFlat(flat) || loader.IsFlat(elfImg) {
		t.Fatal("IsFlat wrong")
	}
	m1, m2 := loadertest.Memory(t), loadertest.Memory(t)
	k1, err1 := Load(m1, elfImg)
	k2, err2 := loader.LoadFlat(m2, bytes.NewReader(flat))
	if err1 != nil || err2 != nil || *k1 != *k2 {
		t.Fatalf("ELF %+v %v, flat %+v %v", k1, err1, k2, err2)
	}
	a, _ := m1.Slice(0x200000, 0x200)
	b, _ := m2.Slice(0x200000, 0x200)
	if !bytes.Equal(a, b) {
		t.Fatal("flat load differs from ELF load")
	}
}
