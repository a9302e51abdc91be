package initproc

import (
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
)

func TestReadHostSignals(t *testing.T) {
	// Every byte 1-31 is a signal number; 0 and anything above 31 are
	// noise. EOF ends the reader.
	in := string([]byte{15, 0, 2, 32, 255, 1, 31, 'x'})
	out := make(chan os.Signal, 16)
	if err := ReadHostSignals(strings.NewReader(in), out); err != io.EOF {
		t.Fatalf("ReadHostSignals = %v, want io.EOF", err)
	}
	close(out)
	var got []syscall.Signal
	for s := range out {
		got = append(got, s.(syscall.Signal))
	}
	want := []syscall.Signal{15, 2, 1, 31}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}
