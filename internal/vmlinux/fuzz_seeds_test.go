package vmlinux

import (
	"testing"

	"github.com/smolvm/smolvm/internal/fuzzcorpus"
	"github.com/smolvm/smolvm/internal/loader/loadertest"
)

// kernelSeeds are FuzzLoad's committed corpus (testdata/fuzz/FuzzLoad).
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

func TestFuzzSeeds(t *testing.T) {
	fuzzcorpus.Check(t, "FuzzLoad", kernelSeeds())
}
