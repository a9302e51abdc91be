// Package fuzzcorpus keeps committed fuzz seed corpora in step with the
// code that describes them. A fuzz target's seeds live in
// testdata/fuzz/FuzzName/, one file per seed in the format `go test` reads
// (plain `go test` runs every one of them through the target, so the seeds
// are ordinary regression tests). A package declares its seeds in Go, next
// to the encoding they exercise, and a test calls Check: it fails when a
// file is missing or stale, and rewrites the files when run with
// -update-corpus. Files Check does not know about (inputs the fuzzer found
// and saved) are left alone.
package fuzzcorpus

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update-corpus", false, "rewrite the committed fuzz seed corpora in testdata/fuzz")

// Encode returns a corpus file (`go test fuzz v1`) holding one input: the
// values of the fuzz function's arguments, in order. It supports the
// argument types our targets use.
func Encode(args ...any) ([]byte, error) {
	b := []byte("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			b = fmt.Appendf(b, "[]byte(%q)\n", v)
		case string:
			b = fmt.Appendf(b, "string(%q)\n", v)
		case byte:
			b = fmt.Appendf(b, "byte(%q)\n", v)
		case bool, int, int8, int16, int32, int64, uint, uint16, uint32, uint64:
			b = fmt.Appendf(b, "%T(%v)\n", v, v)
		default:
			return nil, fmt.Errorf("fuzz corpus: unsupported argument type %T", a)
		}
	}
	return b, nil
}

// Check compares testdata/fuzz/<target>/<name> with each seed's encoding,
// or writes them all when the test binary runs with -update-corpus.
func Check(t *testing.T, target string, seeds map[string][]any) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	for name, args := range seeds {
		want, err := Encode(args...)
		if err != nil {
			t.Fatalf("seed %s: %v", name, err)
		}
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
			t.Errorf("%v (run the test with -update-corpus to create it)", err)
		} else if !bytes.Equal(got, want) {
			t.Errorf("%s is out of date (run the test with -update-corpus)", path)
		}
	}
}
