package image

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/pierrec/lz4/v4"
)

var update = flag.Bool("update", false, "rewrite the golden files and the FuzzReader seed corpus in testdata")

// testRuntime stands in for the smolvm executable: only its ELF magic matters.
func testRuntime() []byte {
	return append([]byte(elfMagic+"\x02\x01\x01"), bytes.Repeat([]byte("runtime."), 8)...)
}

// testData returns n deterministic bytes that compress somewhat, like a
// kernel or initramfs: random words from a small vocabulary.
func testData(seed uint64, n int) []byte {
	words := []string{"vmlinux ", "init ", "\x00\x00\x00\x00", "busybox ", "\x7fELF", "lib/ "}
	rng := rand.New(rand.NewPCG(seed, seed))
	var b []byte
	for len(b) < n {
		b = append(b, words[rng.IntN(len(words))]...)
	}
	return b[:n]
}

func testManifest() *Manifest {
	return &Manifest{
		Entrypoint:    []string{"/bin/app", "--serve"},
		Args:          []string{"--port", "8080"},
		Env:           []string{"PATH=/usr/bin:/bin", "HOME=/root"},
		WorkDir:       "/srv",
		MemoryMiB:     128,
		VCPUs:         2,
		Cmdline:       "quiet",
		Hostname:      "app",
		SmolvmVersion: "v0.1.0-test",
	}
}

type testPart struct {
	name string
	data []byte
	enc  Encoding
}

// testParts is a small image's worth of parts, both encodings, plus an empty
// one.
func testParts() []testPart {
	return []testPart{
		{KernelPart, testData(1, 700), LZ4},
		{InitramfsPart, testData(2, 500), Raw},
		{"empty", nil, Raw},
		{"extra.lz4", testData(3, 300), LZ4},
	}
}

// build writes an image of runtime, parts and (if m is not nil) a manifest.
func build(t testing.TB, runtime []byte, parts []testPart, m *Manifest) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, bytes.NewReader(runtime))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		if _, err := w.AddPart(p.name, bytes.NewReader(p.data), p.enc); err != nil {
			t.Fatal(err)
		}
	}
	if m != nil {
		if _, err := w.AddManifest(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func testImage(t testing.TB) []byte {
	return build(t, testRuntime(), testParts(), testManifest())
}

func openBytes(t testing.TB, img []byte) (*Reader, error) {
	t.Helper()
	return NewReader(bytes.NewReader(img), int64(len(img)))
}

func mustOpen(t testing.TB, img []byte) *Reader {
	t.Helper()
	r, err := openBytes(t, img)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// seal appends a table and a matching trailer (correct digest) to prefix,
// which holds the runtime and part data.
func seal(prefix []byte, runtimeSize uint64, tbl []byte) []byte {
	t := trailer{
		version:     FormatVersion,
		runtimeSize: runtimeSize,
		tableOffset: uint64(len(prefix)),
		tableSize:   uint64(len(tbl)),
		tableSHA256: sha256.Sum256(tbl),
	}
	out := append(bytes.Clone(prefix), tbl...)
	return append(out, t.marshal()...)
}

// split returns an image's trailer, the bytes before its table, and its table.
func split(t testing.TB, img []byte) (trailer, []byte, []byte) {
	t.Helper()
	tr := unmarshalTrailer(img[len(img)-TrailerSize:])
	return tr, img[:tr.tableOffset], img[tr.tableOffset : tr.tableOffset+tr.tableSize]
}

// editTable rewrites the table of a valid image with edit and reseals it, so
// that the result passes the table digest check and only the edit is wrong.
func editTable(t testing.TB, img []byte, edit func(*table)) []byte {
	t.Helper()
	tr, prefix, tbl := split(t, img)
	var tb table
	if err := json.Unmarshal(tbl, &tb); err != nil {
		t.Fatal(err)
	}
	edit(&tb)
	out, err := json.Marshal(tb)
	if err != nil {
		t.Fatal(err)
	}
	return seal(prefix, tr.runtimeSize, out)
}

// editTrailer re-encodes an image's trailer after edit.
func editTrailer(t testing.TB, img []byte, edit func(*trailer)) []byte {
	t.Helper()
	tr, _, _ := split(t, img)
	edit(&tr)
	out := bytes.Clone(img[:len(img)-TrailerSize])
	return append(out, tr.marshal()...)
}

// wantErr checks that err is an *Error matching sentinel, naming part (if
// part is not "") and saying each of the phrases.
func wantErr(t testing.TB, err, sentinel error, part string, phrases ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", sentinel)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %q (%T) is not an *Error", err, err)
	}
	if !errors.Is(err, sentinel) {
		t.Errorf("error %q does not match %v", err, sentinel)
	}
	if part != "" && e.Part != part {
		t.Errorf("error %q names part %q, want %q", err, e.Part, part)
	}
	for _, s := range phrases {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
}

func TestTrailerSize(t *testing.T) {
	if len(Magic) != 8 {
		t.Errorf("len(Magic) = %d, want 8", len(Magic))
	}
	if n := len((&trailer{}).marshal()); n != TrailerSize {
		t.Errorf("encoded trailer is %d bytes, TrailerSize is %d", n, TrailerSize)
	}
}

func TestRoundTrip(t *testing.T) {
	big := testData(9, 5<<20+123) // more than one 4 MiB LZ4 block
	tests := []struct {
		name  string
		parts []testPart
		m     *Manifest
	}{
		{"raw and lz4", testParts(), testManifest()},
		{"no parts", nil, nil},
		{"manifest only", nil, testManifest()},
		{"multi-block lz4", []testPart{{KernelPart, big, LZ4}, {InitramfsPart, big[:1<<20], Raw}}, testManifest()},
		{"incompressible lz4", []testPart{{"random", randomBytes(10000), LZ4}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runtime := testRuntime()
			img := build(t, runtime, tt.parts, tt.m)
			r := mustOpen(t, img)

			if r.RuntimeSize() != int64(len(runtime)) {
				t.Errorf("RuntimeSize() = %d, want %d", r.RuntimeSize(), len(runtime))
			}
			got, err := io.ReadAll(r.Runtime())
			if err != nil || !bytes.Equal(got, runtime) {
				t.Errorf("Runtime() = %q, %v; want the runtime", got, err)
			}

			want := tt.parts
			if tt.m != nil {
				data, _ := EncodeManifest(tt.m)
				want = append(append([]testPart(nil), want...), testPart{ManifestPart, data, Raw})
			}
			parts := r.Parts()
			if len(parts) != len(want) {
				t.Fatalf("got %d parts, want %d", len(parts), len(want))
			}
			next := r.RuntimeSize() // parts follow each other, in order
			for i, w := range want {
				p := parts[i]
				if p.Name != w.name || p.Encoding != w.enc || p.RawSize != int64(len(w.data)) || p.Offset != next {
					t.Errorf("part %d = %+v, want name %q encoding %q raw size %d offset %d", i, p, w.name, w.enc, len(w.data), next)
				}
				next = p.Offset + p.Size
				if q, ok := r.Part(w.name); !ok || q != p {
					t.Errorf("Part(%q) = %+v, %v; want %+v", w.name, q, ok, p)
				}
				data, err := r.ReadPart(w.name)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(data, w.data) {
					t.Errorf("ReadPart(%q) returned %d bytes that differ from the %d written", w.name, len(data), len(w.data))
				}
			}

			if tt.m != nil {
				m, err := r.Manifest()
				if err != nil {
					t.Fatal(err)
				}
				gotJSON, _ := json.Marshal(m)
				wantJSON, _ := json.Marshal(tt.m)
				if !bytes.Equal(gotJSON, wantJSON) {
					t.Errorf("Manifest() = %s, want %s", gotJSON, wantJSON)
				}
			}
			if err := r.Verify(); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func TestMissingPart(t *testing.T) {
	r := mustOpen(t, build(t, testRuntime(), testParts(), nil))
	_, err := r.ReadPart("nope")
	wantErr(t, err, ErrNoPart, "nope", `part "nope": no such part`)
	if _, ok := r.Part("nope"); ok {
		t.Error(`Part("nope") found a part`)
	}
	_, err = r.Manifest()
	wantErr(t, err, ErrNoPart, ManifestPart)
}

// TestReproducible checks that the same inputs give the same bytes, however
// the inputs are chunked when read.
func TestReproducible(t *testing.T) {
	want := testImage(t)
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
	}
	for name, wrap := range readers {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := NewWriter(&buf, wrap(bytes.NewReader(testRuntime())))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range testParts() {
				if _, err := w.AddPart(p.name, wrap(bytes.NewReader(p.data)), p.enc); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := w.AddManifest(testManifest()); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Error("two writes of the same inputs differ")
			}
		})
	}
}

// TestGolden pins the trailer and table of testImage, so that an unintended
// format change (or an lz4 upgrade that changes compressed output, which
// would break reproducibility across versions) shows up in review.
// Regenerate with: go test ./internal/image/ -run TestGolden -update
func TestGolden(t *testing.T) {
	img := testImage(t)
	_, _, tbl := split(t, img)
	var indented bytes.Buffer
	if err := json.Indent(&indented, tbl, "", "  "); err != nil {
		t.Fatal(err)
	}
	indented.WriteByte('\n')
	files := map[string][]byte{
		"trailer.golden":    []byte(hex.Dump(img[len(img)-TrailerSize:])),
		"table.golden.json": indented.Bytes(),
	}
	for name, got := range files {
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs; got:\n%s\nwant:\n%s\n(run with -update if the change is intended)", path, got, want)
		}
	}
}

func TestOpenAndHasTrailer(t *testing.T) {
	dir := t.TempDir()
	img := testImage(t)
	files := []struct {
		name    string
		data    []byte
		trailer bool
		err     error
	}{
		{"app.vm", img, true, nil},
		{"runtime", testRuntime(), false, ErrNotImage},
		{"empty", nil, false, ErrNotImage},
		{"tiny", []byte("\x7fELF"), false, ErrNotImage},
		{"v2.vm", editTrailer(t, img, func(tr *trailer) { tr.version = 2 }), true, ErrVersion},
	}
	for _, f := range files {
		t.Run(f.name, func(t *testing.T) {
			path := filepath.Join(dir, f.name)
			if err := os.WriteFile(path, f.data, 0o755); err != nil {
				t.Fatal(err)
			}
			fh, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			has, err := HasTrailer(fh)
			if err != nil || has != f.trailer {
				t.Errorf("HasTrailer = %v, %v; want %v", has, err, f.trailer)
			}

			rc, err := Open(path)
			if f.err != nil {
				wantErr(t, err, f.err, "", "image "+path+": ")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if _, err := rc.Manifest(); err != nil {
				t.Error(err)
			}
		})
	}

	missing := filepath.Join(dir, "missing.vm")
	_, err := Open(missing)
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, os.ErrNotExist) || err.Error() != "image "+missing+": no such file or directory" {
		t.Errorf("Open(missing) = %v, want an *Error matching os.ErrNotExist", err)
	}
}

// TestOpenCorruptNamesFile checks the full message a user sees.
func TestOpenCorruptNamesFile(t *testing.T) {
	img := testImage(t)
	p, _ := mustOpen(t, img).Part(KernelPart)
	img[p.Offset+p.Size/2] ^= 0x01
	path := filepath.Join(t.TempDir(), "app.vm")
	if err := os.WriteFile(path, img, 0o755); err != nil {
		t.Fatal(err)
	}
	rc, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	_, err = rc.ReadPart(KernelPart)
	want := "image " + path + `: part "kernel": SHA-256 mismatch (file corrupted or modified): want ` + p.SHA256[:12] + "…, got "
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error = %q, want prefix %q", err, want)
	}
}

// Images written before the LZ4 frames lost their content checksum still
// read, and the checksum of such a frame is still checked.
func TestChecksummedLZ4Frames(t *testing.T) {
	saved := lz4Options
	lz4Options = append(append([]lz4.Option(nil), saved...), lz4.ChecksumOption(true))
	data := testData(3, 300<<10)
	img := build(t, testRuntime(), []testPart{{KernelPart, data, LZ4}}, nil)
	lz4Options = saved
	pr, err := mustOpen(t, img).OpenPart(KernelPart)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(data))
	if err := ReadFull(pr, got); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("checksummed frame: %v, data equal %v", err, bytes.Equal(got, data))
	}
	// The frame's last 4 bytes are its content checksum: a wrong one
	// fails the read even where the part's digest is made to match.
	_, prefix, tbl := split(t, img)
	var tb table
	if err := json.Unmarshal(tbl, &tb); err != nil {
		t.Fatal(err)
	}
	p := tb.Parts[0]
	bad := bytes.Clone(prefix)
	bad[p.Offset+p.Size-1] ^= 0xff
	sum := sha256.Sum256(bad[p.Offset : p.Offset+p.Size])
	tb.Parts[0].SHA256 = hex.EncodeToString(sum[:])
	tbl2, _ := json.Marshal(tb)
	pr, err = mustOpen(t, seal(bad, uint64(len(testRuntime())), tbl2)).OpenPart(KernelPart)
	if err != nil {
		t.Fatal(err)
	}
	if err := ReadFull(pr, got); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("wrong content checksum: err = %v, want ErrCorrupt", err)
	}
}

func TestCheckDigest(t *testing.T) {
	img := testImage(t)
	if err := mustOpen(t, img).CheckDigest(KernelPart); err != nil {
		t.Fatal(err)
	}
	_, prefix, tbl := split(t, img)
	var tb table
	if err := json.Unmarshal(tbl, &tb); err != nil {
		t.Fatal(err)
	}
	for _, p := range tb.Parts {
		if p.Name == KernelPart {
			prefix = bytes.Clone(prefix)
			prefix[p.Offset+p.Size/2] ^= 1
		}
	}
	err := mustOpen(t, seal(prefix, uint64(len(testRuntime())), tbl)).CheckDigest(KernelPart)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), `"kernel"`) {
		t.Fatalf("flipped kernel byte: err = %v", err)
	}
	if err := mustOpen(t, img).CheckDigest("nope"); !errors.Is(err, ErrNoPart) {
		t.Fatalf("missing part: err = %v", err)
	}
}
