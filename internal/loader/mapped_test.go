package loader

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smolvm/smolvm/internal/loader/loadertest"
	"github.com/smolvm/smolvm/internal/memory"
)

// mappedFlat is a flat kernel with what the mapped format must handle: a
// segment ending mid-page, one with bss past its file bytes, and one
// with no file bytes at all.
func mappedFlat() []byte {
	return EncodeFlat(0x200000, []Segment{
		{Paddr: 0x200000, Memsz: 5000, Data: bytes.Repeat([]byte{7}, 5000)},
		{Paddr: 0x204000, Memsz: 0x3000, Data: []byte{1, 2, 3}},
		{Paddr: 0x210000, Memsz: 0x2000},
	})
}

func writeMapped(t *testing.T, flat []byte) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "k"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := EncodeMapped(f, bytes.NewReader(flat)); err != nil {
		t.Fatal(err)
	}
	return f
}

// A mapped kernel gives guest memory exactly what LoadFlat writes, even
// over memory that held something else.
func TestMapKernelMatchesLoadFlat(t *testing.T) {
	flat := mappedFlat()
	f := writeMapped(t, flat)
	if err := CheckMapped(f); err != nil {
		t.Fatal(err)
	}
	want, got := loadertest.Memory(t), loadertest.Memory(t)
	for _, m := range []*memory.Memory{want, got} {
		dirty, _ := m.Slice(0x200000, 0x20000)
		for i := range dirty {
			dirty[i] = 0xee
		}
	}
	k1, err1 := LoadFlat(want, bytes.NewReader(flat))
	k2, err2 := MapKernel(got, f)
	if err1 != nil || err2 != nil || *k1 != *k2 {
		t.Fatalf("LoadFlat %+v %v, MapKernel %+v %v", k1, err1, k2, err2)
	}
	// Each segment's memory is the same (past a segment, to its page's
	// end, MapKernel leaves zeros where LoadFlat leaves what was there).
	for _, r := range [][2]uint64{{0x200000, 5000}, {0x204000, 0x3000}, {0x210000, 0x2000}} {
		a, _ := want.Slice(r[0], r[1])
		b, _ := got.Slice(r[0], r[1])
		if !bytes.Equal(a, b) {
			t.Fatalf("segment at %#x: mapped kernel differs from the flat load", r[0])
		}
	}
	b, _ := got.Slice(0x200000, 1)
	// Guest writes stay private: the file is unchanged.
	b[0] = 9
	var first [1]byte
	f.ReadAt(first[:], PageSize)
	if first[0] != 7 {
		t.Fatalf("guest write reached the file: %d", first[0])
	}
}

func TestMappedErrors(t *testing.T) {
	unaligned := EncodeFlat(0x200000, []Segment{{Paddr: 0x200010, Memsz: 1, Data: []byte{1}}})
	tmp, err := os.Create(filepath.Join(t.TempDir(), "u"))
	if err != nil {
		t.Fatal(err)
	}
	defer tmp.Close()
	if err := EncodeMapped(tmp, bytes.NewReader(unaligned)); err == nil || !strings.Contains(err.Error(), "page") {
		t.Errorf("unaligned segment: err = %v", err)
	}
	f := writeMapped(t, mappedFlat())
	// An entry of the earlier layout (magic SMOLKRM1, no digest) is
	// refused, so a cache written by an older smolvm is rewritten.
	f.WriteAt([]byte("SMOLKRM1"), 0)
	if err := CheckMapped(f); err == nil {
		t.Error("SMOLKRM1 entry accepted")
	}
	f.WriteAt([]byte(mappedMagic), 0)
	st, _ := f.Stat()
	for _, cut := range []int64{0, 20, 100, PageSize, st.Size() - 1} {
		if err := f.Truncate(cut); err != nil {
			t.Fatal(err)
		}
		if err := CheckMapped(f); err == nil {
			t.Errorf("mapped kernel cut to %d bytes accepted", cut)
		}
	}
	f = writeMapped(t, EncodeFlat(0x200000, []Segment{{Paddr: 0x3ff000, Memsz: 0x2000, Data: []byte{1}}}))
	if _, err := MapKernel(loadertest.Memory(t), f); err == nil || !strings.Contains(err.Error(), "does not fit") {
		t.Errorf("segment past guest memory: err = %v", err)
	}
}

// FuzzMapKernel: a cache entry is the user's own file, but a damaged one
// must give an error, never a mapping outside guest memory or a panic.
func FuzzMapKernel(f *testing.F) {
	seed := filepath.Join(f.TempDir(), "seed")
	if tmp, err := os.Create(seed); err == nil {
		EncodeMapped(tmp, bytes.NewReader(mappedFlat()))
		tmp.Close()
	}
	b, _ := os.ReadFile(seed)
	f.Add(b[:PageSize+64])
	f.Add([]byte(mappedMagic))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "k")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		file, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer file.Close()
		m := loadertest.Memory(t)
		k, err := MapKernel(m, file)
		if err == nil && (k.Entry == 0 || k.End > 4<<20) {
			t.Fatalf("accepted kernel %+v outside 4 MiB of memory", k)
		}
	})
}

// VerifyMapped finds a byte changed anywhere after the header.
func TestVerifyMapped(t *testing.T) {
	f := writeMapped(t, mappedFlat())
	if err := VerifyMapped(f); err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	for _, off := range []int64{PageSize, PageSize + 4999, st.Size() - 1} {
		var b [1]byte
		f.ReadAt(b[:], off)
		b[0] ^= 0x80
		f.WriteAt(b[:], off)
		if err := VerifyMapped(f); err == nil {
			t.Errorf("byte %d changed: verified", off)
		}
		b[0] ^= 0x80
		f.WriteAt(b[:], off)
	}
	if err := VerifyMapped(f); err != nil {
		t.Fatalf("restored: %v", err)
	}
}
