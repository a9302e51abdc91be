package vmm

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// TestWithTail: every read of a disk with a configuration tail returns
// exactly the bytes of base-then-tail, short reads only at the end.
func TestWithTail(t *testing.T) {
	base := bytes.Repeat([]byte("b"), 1000)
	tail := bytes.Repeat([]byte("t"), 24)
	want := append(append([]byte{}, base...), tail...)
	// The base reader holds more than size: the disk must stop at size.
	w := withTail{bytes.NewReader(append(base, "extra"...)), int64(len(base)), tail}
	for off := int64(0); off <= int64(len(want))+2; off += 7 {
		for _, n := range []int{0, 1, 5, 24, 512, 2000} {
			b := make([]byte, n)
			got, err := w.ReadAt(b, off)
			end := min(int64(len(want)), off+int64(n))
			wantN := max(0, int(end-off))
			if got != wantN || !bytes.Equal(b[:got], want[min(off, int64(len(want))):end]) {
				t.Fatalf("ReadAt(%d bytes, %d) = %d %q", n, off, got, b[:got])
			}
			if got < n && !errors.Is(err, io.EOF) || got == n && err != nil {
				t.Fatalf("ReadAt(%d bytes, %d): n %d err %v", n, off, got, err)
			}
		}
	}
}
