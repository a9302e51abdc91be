package image

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestPartReaderStreamsAndVerifies(t *testing.T) {
	data := bytes.Repeat([]byte("smolvm streaming "), 10000)
	for _, enc := range []Encoding{Raw, LZ4} {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, bytes.NewReader(testRuntime()))
		if err != nil {
			t.Fatal(err)
		}
		p, err := w.AddPart("kernel", bytes.NewReader(data), enc)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		img := buf.Bytes()

		r, err := NewReader(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			t.Fatal(err)
		}
		pr, err := r.OpenPart("kernel")
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, pr.Size())
		if err := ReadFull(pr, got); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: ReadFull err %v, equal %v", enc, err, bytes.Equal(got, data))
		}

		// A flipped byte in the stored data: the stream must not end
		// cleanly, whatever it decodes to.
		bad := append([]byte(nil), img...)
		bad[p.Offset+p.Size/2] ^= 1
		r, err = NewReader(bytes.NewReader(bad), int64(len(bad)))
		if err != nil {
			t.Fatal(err)
		}
		pr, _ = r.OpenPart("kernel")
		_, err = io.ReadAll(pr)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "SHA-256 mismatch") {
			t.Errorf("%s: flipped byte: err = %v, want ErrCorrupt naming the SHA-256 mismatch", enc, err)
		}
	}
}
