package loader

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/smolvm/smolvm/internal/fuzzcorpus"
)

// flatSeeds are FuzzLoadFlat's committed corpus
// (testdata/fuzz/FuzzLoadFlat): a valid flat kernel and edits of its
// header (magic, entry, count, reserved) and first segment (paddr,
// filesz, memsz at offset 24).
func flatSeeds() map[string][]any {
	flat := testFlat()
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
	fuzzcorpus.Check(t, "FuzzLoadFlat", flatSeeds())
}
