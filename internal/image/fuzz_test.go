package image

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/metrics"
	"testing"
)

// FuzzReader feeds arbitrary files to the reader. Nothing may panic, every
// error must be an *Error matching a sentinel, and no input may make the
// reader allocate much more than a fixed amount plus a multiple of its size.
//
// Most mutations break a digest and are refused early, so each input is also
// tried resealed: once with only the table digest recomputed (reaching the
// JSON parser and table checks with the mutated table as is), and once with
// the part digests recomputed too (reaching the LZ4 decoder and manifest
// parser with mutated data).
//
// Seeds are in testdata/fuzz/FuzzReader; regenerate with
// go test ./internal/image/ -run TestFuzzSeeds -update
//
// Go's fuzzer spends up to -fuzzminimizetime (default 60s) shrinking each new
// interesting input, which on a small machine can eat most of a short run;
// -fuzzminimizetime=5s keeps it fuzzing.
func FuzzReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		checkImage(t, data)
		if sealed, ok := resealTable(data); ok {
			checkImage(t, sealed)
		}
		if sealed, ok := resealParts(data); ok {
			checkImage(t, sealed)
		}
	})
}

// allocLimit bounds what reading an image of n bytes may allocate: the LZ4
// decoder's block buffers, plus the data itself and what it can at most
// expand to.
func allocLimit(n int) uint64 {
	return 64<<20 + uint64(n)*(2*maxLZ4Ratio+16)
}

func checkImage(t *testing.T, data []byte) {
	before := heapAllocs()
	defer func() {
		if got := heapAllocs() - before; got > allocLimit(len(data)) {
			t.Fatalf("reading a %d-byte file allocated %d bytes", len(data), got)
		}
	}()
	r, err := NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		checkErr(t, err)
		return
	}
	for _, p := range r.Parts() {
		b, err := r.ReadPart(p.Name)
		if err != nil {
			checkErr(t, err)
			continue
		}
		if int64(len(b)) != p.RawSize {
			t.Fatalf("part %q: read %d bytes, raw_size is %d", p.Name, len(b), p.RawSize)
		}
	}
	if _, err := r.Manifest(); err != nil && !errors.Is(err, ErrNoPart) {
		checkErr(t, err)
	}
	if err := r.Verify(); err != nil {
		checkErr(t, err)
	}
}

func checkErr(t *testing.T, err error) {
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %q (%T) is not an *Error", err, err)
	}
	if len(err.Error()) > 1000 { // messages quote file contents only in short
		t.Fatalf("error message is %d bytes long: %.200s…", len(err.Error()), err)
	}
	n := 0
	for _, s := range []error{ErrNotImage, ErrTruncated, ErrCorrupt, ErrVersion} {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("error %q matches %d sentinel errors, want 1", err, n)
	}
}

var allocSample = []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}

// heapAllocs returns the bytes allocated so far. Unlike
// runtime.ReadMemStats it does not stop the world, so it is cheap enough to
// call for every fuzz input.
func heapAllocs() uint64 {
	metrics.Read(allocSample)
	return allocSample[0].Value.Uint64()
}

// resealTable recomputes the table digest of data, if its trailer places the
// table within the file.
func resealTable(data []byte) ([]byte, bool) {
	if len(data) < TrailerSize || !hasMagic(data[len(data)-TrailerSize:]) {
		return nil, false
	}
	tr := unmarshalTrailer(data[len(data)-TrailerSize:])
	end := uint64(len(data) - TrailerSize)
	if tr.tableOffset > end || tr.tableSize > end-tr.tableOffset {
		return nil, false
	}
	tbl := data[tr.tableOffset : tr.tableOffset+tr.tableSize]
	tr.tableSHA256 = sha256.Sum256(tbl)
	out := bytes.Clone(data[:len(data)-TrailerSize])
	return append(out, tr.marshal()...), true
}

// resealParts parses the table leniently, recomputes the digest of each part
// that lies within the file, and writes a fresh table and trailer.
func resealParts(data []byte) ([]byte, bool) {
	if len(data) < TrailerSize || !hasMagic(data[len(data)-TrailerSize:]) {
		return nil, false
	}
	tr := unmarshalTrailer(data[len(data)-TrailerSize:])
	end := uint64(len(data) - TrailerSize)
	if tr.tableOffset > end || tr.tableSize > end-tr.tableOffset {
		return nil, false
	}
	var tb table
	if json.Unmarshal(data[tr.tableOffset:tr.tableOffset+tr.tableSize], &tb) != nil {
		return nil, false
	}
	prefix := data[:tr.tableOffset]
	for i := range tb.Parts {
		p := &tb.Parts[i]
		if p.Offset >= 0 && p.Size >= 0 && p.Offset <= int64(len(prefix))-p.Size {
			sum := sha256.Sum256(prefix[p.Offset : p.Offset+p.Size])
			p.SHA256 = hex.EncodeToString(sum[:])
		}
	}
	if tr.runtimeSize <= uint64(len(prefix)) {
		sum := sha256.Sum256(prefix[:tr.runtimeSize])
		tb.RuntimeSHA256 = hex.EncodeToString(sum[:])
	}
	tbl, err := json.Marshal(tb)
	if err != nil {
		return nil, false
	}
	return seal(prefix, tr.runtimeSize, tbl), true
}

// fuzzSeeds are the committed seed corpus: valid images and typical damage.
func fuzzSeeds(t testing.TB) map[string][]byte {
	small := build(t, testRuntime(), []testPart{
		{KernelPart, testData(11, 200), Raw},
		{ManifestPart, mustEncode(t, &Manifest{Entrypoint: []string{"/init"}, MemoryMiB: 64, VCPUs: 1}), Raw},
	}, nil)
	full := testImage(t)
	r := mustOpen(t, full)
	kernel, _ := r.Part(KernelPart)
	tr, _, _ := split(t, full)

	flip := func(img []byte, off int64) []byte {
		b := bytes.Clone(img)
		b[off] ^= 0x10
		return b
	}
	return map[string][]byte{
		"valid-raw":       small,
		"valid-lz4":       full,
		"valid-no-parts":  build(t, testRuntime(), nil, nil),
		"not-image":       testRuntime(),
		"truncated":       full[:len(full)/2],
		"missing-middle":  append(bytes.Clone(full[:200]), full[300:]...),
		"flipped-kernel":  flip(full, kernel.Offset+kernel.Size/2),
		"flipped-table":   flip(full, int64(tr.tableOffset)+5),
		"bad-magic":       flip(full, int64(len(full)-TrailerSize)),
		"version-2":       editTrailer(t, small, func(t *trailer) { t.version = 2 }),
		"overlap":         editTable(t, full, func(tb *table) { tb.Parts[1].Offset = tb.Parts[0].Offset + 1 }),
		"lz4-raw-size":    editTable(t, full, func(tb *table) { tb.Parts[0].RawSize++ }),
		"duplicate-names": editTable(t, full, func(tb *table) { tb.Parts[1].Name = tb.Parts[0].Name }),
	}
}

func mustEncode(t testing.TB, m *Manifest) []byte {
	b, err := EncodeManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFuzzSeeds keeps testdata/fuzz/FuzzReader in step with the format
// (plain go test runs the seeds through FuzzReader).
func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzReader")
	for name, data := range fuzzSeeds(t) {
		want := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", data)
		path := filepath.Join(dir, name)
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%v (run with -update to create it)", err)
		} else if !bytes.Equal(got, want) {
			t.Errorf("%s is out of date (run with -update)", path)
		}
	}
}
