package progress

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
)

func TestSilentWhenNotATerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := New(f)
	if p != nil {
		t.Fatal("New on a regular file returned a reporter")
	}
	// A nil reporter passes data through and prints nothing.
	var got bytes.Buffer
	io.Copy(p.Writer("w", 3, &got), p.Reader("r", 3, strings.NewReader("abc")))
	p.Done("done")
	if got.String() != "abc" {
		t.Fatalf("data %q", got.String())
	}
	if st, _ := f.Stat(); st.Size() != 0 {
		t.Fatalf("%d bytes of progress written to a non-terminal", st.Size())
	}
}

func TestDraws(t *testing.T) {
	var screen bytes.Buffer
	p := &Reporter{w: &screen}
	io.Copy(io.Discard, p.Reader("layer 1/2", 2_000_000, bytes.NewReader(make([]byte, 2_000_000))))
	p.Done("layers: %d applied", 2)
	s := screen.String()
	if !strings.Contains(s, "\r\033[Klayer 1/2: 2.0 MB / 2.0 MB") || !strings.HasSuffix(s, "\r\033[Klayers: 2 applied\n") {
		t.Fatalf("screen %q", s)
	}
}
