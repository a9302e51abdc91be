// Package loadertest makes minimal kernels for tests: an ELF vmlinux
// with a PVH note around a few bytes of code, the smallest thing the
// loader (and so the VMM) accepts.
package loadertest

import (
	"encoding/binary"
	"testing"

	"github.com/smolvm/smolvm/internal/memory"
)

// ELF builds a minimal ELF vmlinux: one PT_LOAD at loadAddr holding
// code, and (when pvh) a PT_NOTE with XEN_ELFNOTE_PHYS32_ENTRY. descsz is
// 4 or 8, as kernels emit either.
func ELF(loadAddr uint64, code []byte, pvh bool, descsz int) []byte {
	le := binary.LittleEndian
	note := make([]byte, 12+4+descsz)
	le.PutUint32(note[0:], 4)
	le.PutUint32(note[4:], uint32(descsz))
	le.PutUint32(note[8:], 18 /* XEN_ELFNOTE_PHYS32_ENTRY */)
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

// Memory is 4 MiB of guest memory at address 0, unmapped when the test
// ends: room for the kernels above and for segments that do not fit.
func Memory(t testing.TB) *memory.Memory {
	t.Helper()
	m, err := memory.New(memory.Range{Addr: 0, Size: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}
