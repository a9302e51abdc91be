package image

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

// blocksImage builds an image with one Blocks part "root" holding data.
func blocksImage(t testing.TB, data []byte) []byte {
	return build(t, testRuntime(), []testPart{{KernelPart, testData(1, 100), LZ4}, {"root", data, Blocks}}, nil)
}

// mixed is compressible text with an incompressible stretch in the
// middle, so both stored forms of a block occur.
func mixed(n int) []byte {
	b := testData(7, n)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := n / 3; i < min(n, n/3+BlocksSize+100); i++ {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func TestBlocksRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, BlocksSize - 1, BlocksSize, BlocksSize + 1, 5*BlocksSize + 123} {
		data := mixed(n)
		img := blocksImage(t, data)
		r := mustOpen(t, img)
		p, _ := r.Part("root")
		if p.Encoding != Blocks || p.RawSize != int64(n) || len(p.IndexSHA256) != 64 {
			t.Fatalf("n=%d: table entry %+v", n, p)
		}
		if got, err := r.ReadPart("root"); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("n=%d: ReadPart: %v", n, err)
		}
		pr, err := r.OpenPart("root")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(pr); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("n=%d: OpenPart: %v", n, err)
		}
		br, err := r.OpenBlocks("root")
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(uint64(n), 3))
		for k := 0; k < 200; k++ {
			off := rng.Int64N(int64(n) + 10)
			buf := make([]byte, rng.IntN(3*BlocksSize))
			got, err := br.ReadAt(buf, off)
			want := data[min(off, int64(n)):min(off+int64(len(buf)), int64(n))]
			if got != len(want) || !bytes.Equal(buf[:got], want) {
				t.Fatalf("n=%d: ReadAt(%d, %d) = %d bytes, want %d", n, len(buf), off, got, len(want))
			}
			if (got < len(buf)) != errors.Is(err, io.EOF) || err != nil && !errors.Is(err, io.EOF) {
				t.Fatalf("n=%d: ReadAt(%d, %d): %d bytes, err %v", n, len(buf), off, got, err)
			}
		}
		if err := r.Verify(); err != nil {
			t.Fatalf("n=%d: Verify: %v", n, err)
		}
	}
	if big, small := len(blocksImage(t, testData(7, 4*BlocksSize))), 4*BlocksSize; big > small {
		t.Errorf("compressible data did not shrink: image %d bytes for %d of data", big, small)
	}
}

// TestBlocksDamage: a flipped byte in a block fails reads of that block
// only (and the whole-part checks); one in the index fails the open.
func TestBlocksDamage(t *testing.T) {
	data := mixed(4 * BlocksSize)
	img := blocksImage(t, data)
	p, _ := mustOpen(t, img).Part("root")
	x, err := mustOpen(t, img).blockIndex(&p)
	if err != nil {
		t.Fatal(err)
	}
	for blk := range x.entries {
		bad := bytes.Clone(img)
		bad[p.Offset+x.entries[blk].offset+x.entries[blk].stored/2] ^= 0x10
		r := mustOpen(t, bad)
		br, err := r.OpenBlocks("root")
		if err != nil {
			t.Fatalf("block %d damaged: open: %v", blk, err)
		}
		for other := range x.entries {
			buf := make([]byte, 100)
			_, err := br.ReadAt(buf, int64(other)*BlocksSize+10)
			if other == blk {
				wantErr(t, err, ErrCorrupt, "root", "corrupted or modified")
			} else if err != nil {
				t.Errorf("block %d damaged: reading block %d: %v", blk, other, err)
			}
		}
		if _, err := r.ReadPart("root"); !errors.Is(err, ErrCorrupt) {
			t.Errorf("block %d damaged: ReadPart: %v", blk, err)
		}
	}
	bad := bytes.Clone(img)
	bad[p.Offset+p.Size-40] ^= 1 // inside the index
	if _, err := mustOpen(t, bad).OpenBlocks("root"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("damaged index: %v", err)
	}
	if _, err := mustOpen(t, img).OpenBlocks(KernelPart); !errors.Is(err, ErrCorrupt) {
		t.Errorf("OpenBlocks of an LZ4 part: %v", err)
	}
}

// TestBlockIndexHostile: an index whose digest matches (so only the
// parser stands between it and the reader) but whose values lie.
func TestBlockIndexHostile(t *testing.T) {
	good := func() []byte {
		var buf bytes.Buffer
		if _, _, err := writeBlocks(&buf, bytes.NewReader(mixed(3*BlocksSize))); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	for _, c := range []struct {
		name string
		edit func(tail []byte) // tail: index + footer
		raw  int64
	}{
		{"as written", func([]byte) {}, 3 * BlocksSize},
		{"raw size differs from the table", func([]byte) {}, 3*BlocksSize + 1},
		{"block size not a power of two", func(tl []byte) { tl[len(tl)-24] = 3 }, 3 * BlocksSize},
		{"block count too large", func(tl []byte) { tl[len(tl)-20] = 200 }, 3 * BlocksSize},
		{"gap between blocks", func(tl []byte) { tl[48]++ }, 3 * BlocksSize},
		{"huge stored length", func(tl []byte) { tl[8+3] = 0x7f }, 3 * BlocksSize},
		{"unknown flag", func(tl []byte) { tl[12] |= 4 }, 3 * BlocksSize},
		{"index offset wrong", func(tl []byte) { tl[len(tl)-8]++ }, 3 * BlocksSize},
	} {
		stored := good()
		tail := trimIndex(stored[len(stored)-(3*blocksEntrySize+blocksFooterSize):])
		c.edit(tail)
		_, err := parseBlockIndex(tail, int64(len(stored)), c.raw, sha256.Sum256(tail))
		if (err == nil) != (c.name == "as written") {
			t.Errorf("%s: err %v", c.name, err)
		}
	}
}

// FuzzBlocks: any stored bytes, with the digest recomputed so they reach
// the parser. Opening and reading never panic, read outside the part, or
// return data that failed its check.
func FuzzBlocks(f *testing.F) {
	for _, n := range []int{0, 100, BlocksSize + 5} {
		var buf bytes.Buffer
		writeBlocks(&buf, bytes.NewReader(mixed(n)))
		f.Add(buf.Bytes(), int64(n))
	}
	f.Fuzz(func(t *testing.T, stored []byte, rawSize int64) {
		if rawSize < 0 || rawSize > 1<<24 {
			return
		}
		p := &Part{Name: "root", Size: int64(len(stored)), RawSize: rawSize, Encoding: Blocks}
		tail := trimIndex(stored[int64(len(stored))-maxIndex(p):])
		p.indexDigest = sha256.Sum256(tail)
		x, err := parseBlockIndex(tail, p.Size, p.RawSize, p.indexDigest)
		if err != nil {
			return
		}
		for i, e := range x.entries {
			if e.offset < 0 || e.offset+e.stored > int64(len(stored)) {
				t.Fatalf("block %d: [%d, +%d) outside %d stored bytes", i, e.offset, e.stored, len(stored))
			}
		}
		out, err := decodeBlocks(stored, p)
		if err == nil && int64(len(out)) != rawSize {
			t.Fatalf("decoded %d bytes, want %d", len(out), rawSize)
		}
	})
}
