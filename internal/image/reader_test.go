package image

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
)

// TestTruncated cuts the image at every length: each cut must be refused
// (the trailer is gone, or what is left is not a trailer), never panic.
func TestTruncated(t *testing.T) {
	img := testImage(t)
	for n := range len(img) {
		_, err := openBytes(t, img[:n])
		if !errors.Is(err, ErrNotImage) && !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut at %d of %d: got %v, want ErrNotImage or ErrTruncated", n, len(img), err)
		}
	}
}

// TestMissingMiddle drops bytes from the part data but keeps the table and
// trailer, as a broken copy might: the table no longer fits.
func TestMissingMiddle(t *testing.T) {
	img := testImage(t)
	r := mustOpen(t, img)
	mid := int(r.RuntimeSize()) + 100
	for _, n := range []int{1, 10, 100} {
		cut := append(bytes.Clone(img[:mid]), img[mid+n:]...)
		_, err := openBytes(t, cut)
		wantErr(t, err, ErrTruncated, "", "file is truncated")
	}
}

// TestShrunk gives the reader a size larger than the data, as when a file
// shrinks after being stat'ed: reads fail with ErrTruncated.
func TestShrunk(t *testing.T) {
	img := testImage(t)
	_, err := NewReader(bytes.NewReader(img[:len(img)-10]), int64(len(img)))
	wantErr(t, err, ErrTruncated, "", "ended while reading the trailer")
}

type failingReaderAt struct{ err error }

func (f failingReaderAt) ReadAt([]byte, int64) (int, error) { return 0, f.err }

func TestReadError(t *testing.T) {
	ioErr := errors.New("disk on fire")
	_, err := NewReader(failingReaderAt{ioErr}, 1000)
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ioErr) {
		t.Fatalf("got %v, want an *Error wrapping the I/O error", err)
	}
	for _, s := range []error{ErrNotImage, ErrTruncated, ErrCorrupt, ErrVersion} {
		if errors.Is(err, s) {
			t.Errorf("I/O error %q matches %v", err, s)
		}
	}
}

func TestTrailingGarbage(t *testing.T) {
	img := append(testImage(t), "junk"...)
	_, err := openBytes(t, img)
	wantErr(t, err, ErrNotImage, "", "no smolvm trailer")
}

// TestFlippedPartByte flips a byte in each part in turn: opening works (the
// table is intact) but reading that part fails with ErrCorrupt naming it,
// while the other parts still read.
func TestFlippedPartByte(t *testing.T) {
	img := testImage(t)
	for _, p := range mustOpen(t, img).Parts() {
		if p.Size == 0 {
			continue
		}
		t.Run(p.Name, func(t *testing.T) {
			bad := bytes.Clone(img)
			bad[p.Offset+p.Size/2] ^= 0x20
			r := mustOpen(t, bad)
			_, err := r.ReadPart(p.Name)
			wantErr(t, err, ErrCorrupt, p.Name, "SHA-256 mismatch (file corrupted or modified)", "want "+p.SHA256[:12])
			wantErr(t, r.Verify(), ErrCorrupt, p.Name, "SHA-256 mismatch")
			if p.Name == ManifestPart {
				_, err := r.Manifest()
				wantErr(t, err, ErrCorrupt, ManifestPart, "SHA-256 mismatch")
			}
			for _, q := range r.Parts() {
				if q.Name != p.Name {
					if _, err := r.ReadPart(q.Name); err != nil {
						t.Errorf("ReadPart(%q): %v", q.Name, err)
					}
				}
			}
		})
	}
}

// TestFlippedTableByte flips every byte of the table in turn.
func TestFlippedTableByte(t *testing.T) {
	img := testImage(t)
	tr, _, _ := split(t, img)
	for i := tr.tableOffset; i < tr.tableOffset+tr.tableSize; i++ {
		bad := bytes.Clone(img)
		bad[i] ^= 0x01
		_, err := openBytes(t, bad)
		wantErr(t, err, ErrCorrupt, "", "table SHA-256 mismatch")
	}
}

// TestFlippedTrailerByte flips every byte of the trailer in turn: each flip
// is caught, by the magic, the version, the layout checks, the table digest
// or the runtime size recorded in the table.
func TestFlippedTrailerByte(t *testing.T) {
	img := testImage(t)
	start := len(img) - TrailerSize
	for i := start; i < len(img); i++ {
		for _, bit := range []byte{0x01, 0x80} {
			bad := bytes.Clone(img)
			bad[i] ^= bit
			_, err := openBytes(t, bad)
			want := ErrCorrupt
			switch off := i - start; {
			case off < len(Magic):
				want = ErrNotImage
			case off < len(Magic)+4:
				want = ErrVersion
			}
			if !errors.Is(err, want) && !(want == ErrCorrupt && errors.Is(err, ErrTruncated)) {
				t.Errorf("flip %#x at trailer byte %d: got %v, want %v", bit, i-start, err, want)
			}
		}
	}
}

func TestFlippedRuntimeByte(t *testing.T) {
	img := testImage(t)
	bad := bytes.Clone(img)
	bad[10] ^= 0x01
	r := mustOpen(t, bad) // the runtime is only checked by Verify
	wantErr(t, r.Verify(), ErrCorrupt, "", "runtime SHA-256 mismatch")

	bad = bytes.Clone(img)
	bad[1] = 'X'
	_, err := openBytes(t, bad)
	wantErr(t, err, ErrCorrupt, "", "not an ELF executable")
}

func TestBadTrailer(t *testing.T) {
	img := testImage(t)
	tests := []struct {
		name   string
		edit   func(*trailer)
		want   error
		phrase string
	}{
		{"version 2", func(t *trailer) { t.version = 2 }, ErrVersion, "format version 2 is not supported"},
		{"version 0", func(t *trailer) { t.version = 0 }, ErrVersion, "format version 0"},
		{"reserved", func(t *trailer) { t.reserved = 1 }, ErrCorrupt, "reserved"},
		{"empty table", func(t *trailer) { t.tableSize = 0 }, ErrCorrupt, "table size 0"},
		{"huge table", func(t *trailer) { t.tableSize = MaxTableSize + 1 }, ErrCorrupt, "out of range"},
		{"max table size", func(t *trailer) { t.tableSize = math.MaxUint64 }, ErrCorrupt, "out of range"},
		{"table past end", func(t *trailer) { t.tableOffset += 10 }, ErrTruncated, "truncated"},
		{"table offset overflow", func(t *trailer) { t.tableOffset = math.MaxUint64 - 5 }, ErrTruncated, "truncated"},
		{"gap before trailer", func(t *trailer) { t.tableSize-- }, ErrCorrupt, "unexpected data (1 bytes)"},
		{"runtime past table", func(t *trailer) { t.runtimeSize = t.tableOffset + 1 }, ErrCorrupt, "past the table"},
		{"runtime too small", func(t *trailer) { t.runtimeSize = 3 }, ErrCorrupt, "too small"},
		{"runtime size differs", func(t *trailer) { t.runtimeSize-- }, ErrCorrupt, "disagree on the runtime size"},
		{"table digest", func(t *trailer) { t.tableSHA256[31] ^= 1 }, ErrCorrupt, "table SHA-256 mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := openBytes(t, editTrailer(t, img, tt.edit))
			wantErr(t, err, tt.want, "", tt.phrase)
		})
	}

	bad := bytes.Clone(img)
	copy(bad[len(bad)-TrailerSize:], "NOTSMOL!")
	_, err := openBytes(t, bad)
	wantErr(t, err, ErrNotImage, "", "not a smolvm image")
}

// TestHostileTable feeds tables that are well sealed (the digest matches)
// but lie: the reader must refuse each before trusting it.
func TestHostileTable(t *testing.T) {
	img := testImage(t)
	const kernel, initramfs = 0, 1 // indexes in testParts: lz4, raw
	tests := []struct {
		name   string
		edit   func(*table)
		want   error
		part   string
		phrase string
	}{
		{"overlap", func(t *table) { t.Parts[initramfs].Offset = t.Parts[kernel].Offset + 1 }, ErrCorrupt, InitramfsPart, `overlaps part "kernel"`},
		{"same offset", func(t *table) { t.Parts[initramfs].Offset = t.Parts[kernel].Offset }, ErrCorrupt, "", "overlaps"},
		{"past end", func(t *table) { t.Parts[kernel].Offset = int64(len(img)) + 100 }, ErrTruncated, KernelPart, "past the end of the file"},
		{"offset overflow", func(t *table) { t.Parts[kernel].Offset = math.MaxInt64; t.Parts[kernel].Size = MaxPartSize }, ErrTruncated, KernelPart, "past the end"},
		{"into table", func(t *table) { t.Parts[len(t.Parts)-1].Size += 5 }, ErrCorrupt, ManifestPart, "runs into the table"},
		{"inside runtime", func(t *table) { t.Parts[kernel].Offset = 2 }, ErrCorrupt, KernelPart, "inside the runtime"},
		{"negative offset", func(t *table) { t.Parts[kernel].Offset = -1 }, ErrCorrupt, KernelPart, "negative"},
		{"negative size", func(t *table) { t.Parts[kernel].Size = -1 }, ErrCorrupt, KernelPart, "negative"},
		{"negative raw size", func(t *table) { t.Parts[kernel].RawSize = -1 }, ErrCorrupt, KernelPart, "negative"},
		{"huge raw size", func(t *table) { t.Parts[kernel].RawSize = 3 << 30 }, ErrCorrupt, KernelPart, "exceeds the limit"},
		{"huge stored size", func(t *table) { t.Parts[kernel].Size = MaxPartSize + 1 }, ErrCorrupt, KernelPart, "exceeds the limit"},
		{"impossible lz4 ratio", func(t *table) { t.Parts[kernel].RawSize = t.Parts[kernel].Size*maxLZ4Ratio + 1 }, ErrCorrupt, KernelPart, "impossible"},
		{"raw size mismatch", func(t *table) { t.Parts[initramfs].RawSize++ }, ErrCorrupt, InitramfsPart, "cannot decode to raw_size"},
		{"duplicate name", func(t *table) { t.Parts[initramfs].Name = KernelPart }, ErrCorrupt, KernelPart, "twice"},
		{"unknown encoding", func(t *table) { t.Parts[kernel].Encoding = "zstd" }, ErrCorrupt, KernelPart, `unknown encoding "zstd"`},
		{"empty encoding", func(t *table) { t.Parts[kernel].Encoding = "" }, ErrCorrupt, KernelPart, "unknown encoding"},
		{"empty name", func(t *table) { t.Parts[kernel].Name = "" }, ErrCorrupt, "", "invalid part name"},
		{"path name", func(t *table) { t.Parts[kernel].Name = "../kernel" }, ErrCorrupt, "", "invalid part name"},
		{"long name", func(t *table) { t.Parts[kernel].Name = string(bytes.Repeat([]byte("k"), MaxNameLen+1)) }, ErrCorrupt, "", "invalid part name"},
		{"bad digest", func(t *table) { t.Parts[kernel].SHA256 = "xyz" }, ErrCorrupt, KernelPart, `sha256 "xyz" is not 64 hex digits`},
		{"long digest", func(t *table) { t.Parts[kernel].SHA256 = strings.Repeat("a", 1000) }, ErrCorrupt, KernelPart, `sha256 "aaaaaaaa`},
		{"uppercase digest", func(t *table) { t.Parts[kernel].SHA256 = upper(t.Parts[kernel].SHA256) }, ErrCorrupt, KernelPart, "lowercase"},
		{"runtime size", func(t *table) { t.RuntimeSize++ }, ErrCorrupt, "", "disagree on the runtime size"},
		{"runtime digest", func(t *table) { t.RuntimeSHA256 = "" }, ErrCorrupt, "", "runtime sha256"},
		{"too many parts", func(t *table) {
			end := t.Parts[len(t.Parts)-1].Offset + t.Parts[len(t.Parts)-1].Size
			for i := len(t.Parts); i <= MaxParts; i++ {
				t.Parts = append(t.Parts, Part{Name: fmt.Sprint("p", i), Offset: end, Encoding: Raw, SHA256: t.RuntimeSHA256})
			}
		}, ErrCorrupt, "", "more than the limit of 256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := openBytes(t, editTable(t, img, tt.edit))
			wantErr(t, err, tt.want, tt.part, tt.phrase)
		})
	}
}

func upper(s string) string { return string(bytes.ToUpper([]byte(s))) }

// TestHostileTableJSON replaces the table text itself.
func TestHostileTableJSON(t *testing.T) {
	img := testImage(t)
	tr, prefix, tbl := split(t, img)
	tests := []struct {
		name   string
		table  string
		phrase string
	}{
		{"unknown field", `{"bogus":1,` + string(tbl[1:]), `unknown field "bogus"`},
		{"trailing data", string(tbl) + `{}`, "unexpected data after its JSON"},
		{"not json", "hello", "not valid JSON"},
		{"wrong type", `{"runtime_size":"big"}`, "not valid JSON"},
		{"fractional offset", `{"parts":[{"offset":1.5}]}`, "not valid JSON"},
		{"offset beyond int64", `{"parts":[{"offset":99999999999999999999}]}`, "not valid JSON"},
		{"null", "null", "disagree on the runtime size"},
		{"long unknown field", `{"` + strings.Repeat("x", 100000) + `":1}`, `unknown field "xxx`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := openBytes(t, seal(prefix, tr.runtimeSize, []byte(tt.table)))
			wantErr(t, err, ErrCorrupt, "", tt.phrase)
			if len(err.Error()) > 500 {
				t.Errorf("message is %d bytes long", len(err.Error()))
			}
		})
	}
}

// TestLyingLZ4 covers parts whose digests match but whose LZ4 data does not
// decode to what the table says: found when the part is read.
func TestLyingLZ4(t *testing.T) {
	img := testImage(t)
	tests := []struct {
		name   string
		part   string
		edit   func(*Part)
		phrase string
	}{
		{"raw size too big", KernelPart, func(p *Part) { p.RawSize++ }, "decodes to 700 bytes, want raw_size 701"},
		{"raw size too small", KernelPart, func(p *Part) { p.RawSize-- }, "decodes to more than raw_size 699"},
		{"raw size zero", KernelPart, func(p *Part) { p.RawSize = 0 }, "decodes to more than raw_size 0"},
		{"not lz4", InitramfsPart, func(p *Part) { p.Encoding = LZ4 }, "LZ4 data cannot be decoded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := editTable(t, img, func(tb *table) {
				for i := range tb.Parts {
					if tb.Parts[i].Name == tt.part {
						tt.edit(&tb.Parts[i])
					}
				}
			})
			r := mustOpen(t, bad)
			_, err := r.ReadPart(tt.part)
			wantErr(t, err, ErrCorrupt, tt.part, tt.phrase)
			wantErr(t, r.Verify(), ErrCorrupt, tt.part, tt.phrase)
		})
	}
}

// TestGaps checks that parts need not be contiguous: a later writer may align
// them, and unused bytes cannot hurt since every part has its own digest.
func TestGaps(t *testing.T) {
	img := testImage(t)
	tr, prefix, tbl := split(t, img)
	withGap := append(bytes.Clone(prefix), make([]byte, 100)...)
	r := mustOpen(t, seal(withGap, tr.runtimeSize, tbl))
	if err := r.Verify(); err != nil {
		t.Error(err)
	}
}

// TestLZ4RatioBound checks that the plausibility bound on raw_size admits the
// most compressible input there is.
func TestLZ4RatioBound(t *testing.T) {
	zeros := make([]byte, 16<<20)
	img := build(t, testRuntime(), []testPart{{"zeros", zeros, LZ4}}, nil)
	r := mustOpen(t, img)
	p, _ := r.Part("zeros")
	t.Logf("%d zero bytes compress to %d (ratio %.1f, bound %d)", p.RawSize, p.Size, float64(p.RawSize)/float64(p.Size), maxLZ4Ratio)
	data, err := r.ReadPart("zeros")
	if err != nil || !bytes.Equal(data, zeros) {
		t.Fatalf("ReadPart: %v", err)
	}
}

// TestCutInsideRuntime: an image cut inside the ELF runtime at its front
// (which the OS cannot even start) is reported as truncated, not as "not
// an image"; a complete ELF without a trailer is not an image. The test
// binary stands in for the runtime: a Go executable, section headers last.
func TestCutInsideRuntime(t *testing.T) {
	exe, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Skip(err)
	}
	_, err = openBytes(t, exe[:len(exe)/2])
	wantErr(t, err, ErrTruncated, "", "ends inside the runtime program")
	_, err = openBytes(t, exe)
	wantErr(t, err, ErrNotImage, "", "no smolvm trailer")
}

// FuzzELFExtent: the hand-written ELF header parser behind truncation
// messages never panics, reads only through the ReaderAt, and says
// "not ELF" for anything but a well-formed 64-bit header.
func FuzzELFExtent(f *testing.F) {
	exe, err := os.ReadFile("/proc/self/exe")
	if err == nil && len(exe) > 4096 {
		f.Add(exe[:4096])
	}
	f.Add(testRuntime())
	f.Add([]byte(elfMagic + "\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		end, ok := elfExtent(bytes.NewReader(b))
		if ok && (len(b) < 64 || string(b[:4]) != elfMagic) {
			t.Fatalf("ok for a file without a 64-byte ELF header")
		}
		if e, ok2 := elfEnd(bytes.NewReader(b), int64(len(b))); ok2 && (uint64(e) != end || e > int64(len(b))) {
			t.Fatalf("elfEnd %d, extent %d, size %d", e, end, len(b))
		}
	})
}
