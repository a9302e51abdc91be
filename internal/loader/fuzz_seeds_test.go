package loader

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/smolvm/smolvm/internal/fuzzcorpus"
	"github.com/smolvm/smolvm/internal/loader/loadertest"
)

// kernelSeeds are FuzzLoadKernel's committed corpus
// (testdata/fuzz/FuzzLoadKernel).
func kernelSeeds() map[string][]any {
	valid := loadertest.ELF(0x200000, []byte{1, 2, 3}, true, 4)
	one := func(b []byte) []any { return []any{b} }
	return map[string][]any{
		"pvh-note-4":       one(valid),
		"pvh-note-8":       one(loadertest.ELF(0x200000, []byte{1}, true, 8)),
		"no-pvh-note":      one(loadertest.ELF(0x200000, []byte{1}, false, 4)),
		"load-past-memory": one(loadertest.ELF(0x1000000, []byte{1, 2, 3}, true, 4)),
		"load-wraps":       one(loadertest.ELF(^uint64(0)-1, []byte{1, 2, 3}, true, 4)),
		"truncated":        one(valid[:len(valid)/2]),
		"not-elf":          one([]byte("MZ\x90\x00 not a kernel")),
	}
}

// flatSeeds are FuzzLoadFlat's committed corpus
// (testdata/fuzz/FuzzLoadFlat): a valid flat kernel and edits of its
// header (magic, entry, count, reserved) and first segment (paddr,
// filesz, memsz at offset 24).
func flatSeeds(t *testing.T) map[string][]any {
	flat, err := Flatten(loadertest.ELF(0x200000, []byte{1, 2, 3}, true, 4))
	if err != nil {
		t.Fatal(err)
	}
	edit := func(off int, v uint64) []any {
		b := bytes.Clone(flat)
		binary.LittleEndian.PutUint64(b[off:], v)
		return []any{b}
	}
	return map[string][]any{
		"valid":          {flat},
		"truncated":      {flat[:len(flat)-2]},
		"bad-magic":      edit(0, 0),
		"many-segments":  edit(16, 0xffffffff),
		"paddr-past-mem": edit(24, 0x1000000),
		"paddr-wraps":    edit(24, ^uint64(0)-1),
		"filesz-huge":    edit(32, 1<<40),
		"memsz-huge":     edit(40, ^uint64(0)),
	}
}

func TestFuzzLoaderSeeds(t *testing.T) {
	fuzzcorpus.Check(t, "FuzzLoadKernel", kernelSeeds())
	fuzzcorpus.Check(t, "FuzzLoadFlat", flatSeeds(t))
}
