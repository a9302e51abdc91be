package loader

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/smolvm/smolvm/internal/memory"
)

// elfKernel builds a minimal ELF vmlinux: one PT_LOAD at loadAddr holding
// code, and (when pvh) a PT_NOTE with XEN_ELFNOTE_PHYS32_ENTRY. descsz is
// 4 or 8, as kernels emit either.
func elfKernel(loadAddr uint64, code []byte, pvh bool, descsz int) []byte {
	le := binary.LittleEndian
	note := make([]byte, 12+4+descsz)
	le.PutUint32(note[0:], 4)
	le.PutUint32(note[4:], uint32(descsz))
	le.PutUint32(note[8:], xenElfnotePhys32Entry)
	copy(note[12:], "Xen\x00")
	le.PutUint32(note[16:], uint32(loadAddr))
	f := make([]byte, 0x1000+len(code))
	copy(f, "\x7fELF\x02\x01\x01")
	le.PutUint16(f[16:], 2)
	le.PutUint16(f[18:], 62)
	le.PutUint32(f[20:], 1)
	le.PutUint64(f[24:], loadAddr)
	le.PutUint64(f[32:], 64)
	le.PutUint16(f[52:], 64)
	le.PutUint16(f[54:], 56)
	n := 1
	if pvh {
		n = 2
	}
	le.PutUint16(f[56:], uint16(n))
	ph := func(i int, typ uint32, off, addr, filesz, memsz uint64) {
		p := f[64+56*i:]
		le.PutUint32(p[0:], typ)
		le.PutUint64(p[8:], off)
		le.PutUint64(p[16:], addr)
		le.PutUint64(p[24:], addr)
		le.PutUint64(p[32:], filesz)
		le.PutUint64(p[40:], memsz)
	}
	ph(0, 1, 0x1000, loadAddr, uint64(len(code)), uint64(len(code))+0x100)
	if pvh {
		ph(1, 4, 0x800, 0, uint64(len(note)), uint64(len(note)))
		copy(f[0x800:], note)
	}
	copy(f[0x1000:], code)
	return f
}

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
		k, err := LoadKernel(m, elfKernel(0x200000, []byte{1, 2, 3}, true, descsz))
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
	good := elfKernel(0x200000, []byte{1}, true, 4)
	tests := []struct {
		name  string
		image []byte
		want  string
	}{
		{"no PVH note", elfKernel(0x200000, []byte{1}, false, 4), "PVH"},
		{"bzImage", bz, "bzImage"},
		{"not ELF", []byte("hello world"), "not an ELF"},
		{"truncated", good[:0x1000], "outside"},
		{"beyond memory", elfKernel(0x3fffff, []byte{1, 2}, true, 4), "does not fit"},
	}
	for _, tt := range tests {
		_, err := LoadKernel(m, tt.image)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tt.name, err, tt.want)
		}
	}
	if _, err := LoadKernel(m, elfKernel(0x200000, []byte{1}, false, 4)); !errors.Is(err, ErrNoPVH) {
		t.Errorf("err = %v, want ErrNoPVH", err)
	}
}

func TestPlaceInitrd(t *testing.T) {
	m := newMem(t)
	addr, err := PlaceInitrd(m, []byte("cpio"), 0x100000, 4<<20, 0x1000)
	if err != nil || addr != (4<<20)-0x1000 {
		t.Fatalf("addr %#x err %v", addr, err)
	}
	if _, err := PlaceInitrd(m, make([]byte, 3<<20), 2<<20, 4<<20, 0x1000); err == nil {
		t.Fatal("initrd overlapping the kernel accepted")
	}
}

// FuzzLoadKernel: a user-supplied kernel (--kernel) is untrusted input:
// any bytes must give a kernel or an error, never a panic or a write
// outside guest memory.
func FuzzLoadKernel(f *testing.F) {
	f.Add(elfKernel(0x200000, []byte{1, 2, 3}, true, 4))
	f.Add(elfKernel(0x200000, []byte{1}, true, 8))
	f.Add(elfKernel(0x200000, []byte{1}, false, 4))
	f.Fuzz(func(t *testing.T, image []byte) {
		m, err := memory.New(memory.Range{Addr: 0, Size: 4 << 20})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		LoadKernel(m, image)
	})
}
