package loader

import (
	"bytes"
	"errors"
	"testing"

	"github.com/smolvm/smolvm/internal/loader/loadertest"
)

// testFlat is a flat kernel of three bytes at 2 MiB with 0x100 bytes of
// bss, entered at its first byte (what vmlinux.Flatten makes of
// loadertest.ELF(0x200000, []byte{1, 2, 3}, true, 4)).
func testFlat() []byte {
	return EncodeFlat(0x200000, []Segment{{Paddr: 0x200000, Memsz: 0x103, Data: []byte{1, 2, 3}}})
}

func TestLoadFlat(t *testing.T) {
	m := loadertest.Memory(t)
	s, _ := m.Slice(0x200000, 0x200)
	for i := range s {
		s[i] = 0xee // must be zeroed past the file data (bss)
	}
	flat := testFlat()
	if !IsFlat(flat) || IsFlat([]byte("\x7fELF")) {
		t.Fatal("IsFlat wrong")
	}
	k, err := LoadFlat(m, bytes.NewReader(flat))
	if err != nil {
		t.Fatal(err)
	}
	if k.Entry != 0x200000 || k.End != 0x200103 {
		t.Errorf("entry %#x end %#x", k.Entry, k.End)
	}
	if s[0] != 1 || s[2] != 3 || s[3] != 0 || s[0x102] != 0 || s[0x103] != 0xee {
		t.Errorf("segment not copied and zero-filled: % x", s[:8])
	}
	for cut := 0; cut < len(flat); cut += 7 {
		if _, err := LoadFlat(loadertest.Memory(t), bytes.NewReader(flat[:cut])); err == nil {
			t.Fatalf("truncated flat kernel (%d bytes) accepted", cut)
		}
	}
	noEntry := EncodeFlat(0, []Segment{{Paddr: 0x200000, Memsz: 1, Data: []byte{1}}})
	if _, err := LoadFlat(loadertest.Memory(t), bytes.NewReader(noEntry)); !errors.Is(err, ErrNoPVH) {
		t.Errorf("no entry point: err = %v, want ErrNoPVH", err)
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

// FuzzLoadFlat: the flat kernel comes from an image (digest-checked, but
// an image is user input): no panic, no write outside guest memory.
func FuzzLoadFlat(f *testing.F) {
	f.Add(testFlat())
	f.Fuzz(func(t *testing.T, b []byte) {
		m := loadertest.Memory(t)
		LoadFlat(m, bytes.NewReader(b))
	})
}
