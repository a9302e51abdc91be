package image

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestWriterRefuses(t *testing.T) {
	tests := []struct {
		name   string
		add    func(w *Writer) error
		phrase string
	}{
		{"duplicate name", func(w *Writer) error {
			w.AddPart("a", strings.NewReader("x"), Raw)
			_, err := w.AddPart("a", strings.NewReader("y"), Raw)
			return err
		}, `part "a": duplicate part name`},
		{"empty name", func(w *Writer) error {
			_, err := w.AddPart("", strings.NewReader("x"), Raw)
			return err
		}, "invalid part name"},
		{"slash in name", func(w *Writer) error {
			_, err := w.AddPart("a/b", strings.NewReader("x"), Raw)
			return err
		}, "invalid part name"},
		{"unknown encoding", func(w *Writer) error {
			_, err := w.AddPart("a", strings.NewReader("x"), "gzip")
			return err
		}, `unknown encoding "gzip"`},
		{"invalid manifest", func(w *Writer) error {
			_, err := w.AddManifest(&Manifest{MemoryMiB: 128, VCPUs: 1})
			return err
		}, `part "manifest": invalid manifest: entrypoint is empty`},
		{"after close", func(w *Writer) error {
			w.Close()
			_, err := w.AddPart("a", strings.NewReader("x"), Raw)
			return err
		}, "already closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := NewWriter(io.Discard, bytes.NewReader(testRuntime()))
			if err != nil {
				t.Fatal(err)
			}
			err = tt.add(w)
			var e *Error
			if !errors.As(err, &e) || !strings.Contains(err.Error(), tt.phrase) {
				t.Errorf("got %v, want an *Error saying %q", err, tt.phrase)
			}
		})
	}
}

// TestWriterRecovers checks that a refused AddPart (nothing written) leaves
// the writer usable and the image valid.
func TestWriterRecovers(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, bytes.NewReader(testRuntime()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddPart("bad name", strings.NewReader("x"), Raw); err == nil {
		t.Fatal("bad name accepted")
	}
	if _, err := w.AddPart("good", strings.NewReader("x"), Raw); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if data, err := mustOpen(t, buf.Bytes()).ReadPart("good"); err != nil || string(data) != "x" {
		t.Errorf("ReadPart = %q, %v", data, err)
	}
}

func TestWriterRuntime(t *testing.T) {
	img := testImage(t)
	tests := []struct {
		name    string
		runtime []byte
		phrase  string
	}{
		{"empty", nil, "not an ELF executable"},
		{"short", []byte("\x7fE"), "not an ELF executable"},
		{"script", []byte("#!/bin/sh\necho hi\n"), "no ELF magic"},
		{"image", img, "already a smolvm image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewWriter(io.Discard, bytes.NewReader(tt.runtime))
			var e *Error
			if !errors.As(err, &e) || !strings.Contains(err.Error(), tt.phrase) {
				t.Errorf("got %v, want an *Error saying %q", err, tt.phrase)
			}
		})
	}

	// The way to rebuild from an image: copy its runtime out.
	r := mustOpen(t, img)
	again := build(t, mustRead(t, r.Runtime()), testParts(), testManifest())
	if !bytes.Equal(again, img) {
		t.Error("rebuilding from Reader.Runtime gave a different image")
	}
}

func mustRead(t testing.TB, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// failAfter accepts n bytes, then fails every write.
type failAfter struct{ n int }

var errDiskFull = errors.New("disk full")

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		n := f.n
		f.n = 0
		return n, errDiskFull
	}
	f.n -= len(p)
	return len(p), nil
}

// TestWriterWriteError checks that a failed write is reported, by AddPart or
// Close, and stays reported.
func TestWriterWriteError(t *testing.T) {
	full := len(testImage(t))
	for _, limit := range []int{0, 10, len(testRuntime()) + 50, full - 100, full - 10} {
		err := func() error {
			w, err := NewWriter(&failAfter{limit}, bytes.NewReader(testRuntime()))
			if err != nil {
				return err
			}
			for _, p := range testParts() {
				if _, err := w.AddPart(p.name, bytes.NewReader(p.data), p.enc); err != nil {
					if _, err2 := w.AddPart("later", strings.NewReader("x"), Raw); !errors.Is(err2, errDiskFull) {
						t.Errorf("limit %d: AddPart after a failure = %v, want the failure", limit, err2)
					}
					return err
				}
			}
			if _, err := w.AddManifest(testManifest()); err != nil {
				return err
			}
			return w.Close()
		}()
		if !errors.Is(err, errDiskFull) {
			t.Errorf("limit %d: got %v, want %v", limit, err, errDiskFull)
		}
	}
}

type failingReader struct{}

var errSource = errors.New("source gone")

func (failingReader) Read([]byte) (int, error) { return 0, errSource }

func TestWriterSourceError(t *testing.T) {
	for _, enc := range []Encoding{Raw, LZ4} {
		w, err := NewWriter(io.Discard, bytes.NewReader(testRuntime()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.AddPart("a", failingReader{}, enc); !errors.Is(err, errSource) {
			t.Errorf("%s: AddPart = %v, want %v", enc, err, errSource)
		}
		if err := w.Close(); !errors.Is(err, errSource) {
			t.Errorf("%s: Close = %v, want %v", enc, err, errSource)
		}
	}
	_, err := NewWriter(io.Discard, failingReader{})
	if !errors.Is(err, errSource) {
		t.Errorf("NewWriter = %v, want %v", err, errSource)
	}
}
