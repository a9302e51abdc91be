package image

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/pierrec/lz4/v4"
)

// lz4Options are the compression settings, fixed so that the same input
// always gives the same frame. Concurrency 1 keeps block order and timing out
// of the picture; Level9 (high compression) costs build time but not boot time (decoding speed is the same at all
// levels). The output also depends on the lz4 module version, pinned in
// go.sum; TestGolden notices if an upgrade changes it.
var lz4Options = []lz4.Option{
	lz4.BlockSizeOption(lz4.Block256Kb), // the reader buffers one block: keeps the runtime's memory small
	lz4.BlockChecksumOption(false),      // the part's SHA-256 covers every byte
	// No content checksum either: the SHA-256 of the stored bytes already
	// proves them to be what the builder wrote, and xxh32 over the decoded
	// kernel (8 MB) cost 0.75 ms of every start. Frames written with one
	// (earlier images) still decode, and have it checked.
	lz4.ChecksumOption(false),
	lz4.CompressionLevelOption(lz4.Level9),
	lz4.ConcurrencyOption(1),
}

// errWriterClosed is returned by AddPart after Close.
var errWriterClosed = errors.New("image writer already closed")

// Writer writes an image: the runtime, then each part as it is added, then
// the table and trailer on Close. It writes sequentially, so w can be a file,
// a pipe or a network stream. The output is reproducible: the same runtime and
// the same parts added in the same order give byte-identical images.
type Writer struct {
	w             *countingWriter
	runtimeSize   int64
	runtimeSHA256 [sha256.Size]byte
	parts         []Part
	names         map[string]bool
	err           error // sticky: once a write fails the image is unusable
	closed        bool
}

// NewWriter starts an image on w by copying the runtime executable from
// runtime. The runtime must be an ELF file and must not itself be an image:
// to build from an image, pass its Reader.Runtime.
func NewWriter(w io.Writer, runtime io.Reader) (*Writer, error) {
	iw := &Writer{w: &countingWriter{w: w}, names: make(map[string]bool)}
	if err := iw.copyRuntime(runtime); err != nil {
		return nil, &Error{Op: "write runtime", Err: err}
	}
	return iw, nil
}

func (w *Writer) copyRuntime(runtime io.Reader) error {
	head := make([]byte, len(elfMagic))
	if _, err := io.ReadFull(runtime, head); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return errors.New("runtime is not an ELF executable (it is shorter than an ELF header)")
		}
		return fmt.Errorf("reading runtime: %w", err)
	}
	if string(head) != elfMagic {
		return errors.New("runtime is not an ELF executable (no ELF magic at its start)")
	}
	// Keep the runtime's last bytes to recognise an image passed by
	// mistake, typically os.Executable() of a runtime that is itself an
	// image: the result would nest one image inside another.
	tail := &tailWriter{max: TrailerSize}
	h := sha256.New()
	dst := io.MultiWriter(w.w, h, tail)
	if _, err := dst.Write(head); err != nil {
		return err
	}
	if _, err := io.Copy(dst, runtime); err != nil {
		return err
	}
	if hasMagic(tail.b) {
		return errors.New("runtime is already a smolvm image; copy the bare runtime out with Reader.Runtime first")
	}
	w.runtimeSize = w.w.n
	h.Sum(w.runtimeSHA256[:0])
	return nil
}

// AddPart appends a part read from r until EOF, stored with encoding enc, and
// returns its table entry. Names must be unique within an image, 1 to
// MaxNameLen characters of [A-Za-z0-9._-]. Data longer than MaxPartSize is
// refused.
func (w *Writer) AddPart(name string, r io.Reader, enc Encoding) (Part, error) {
	p, err := w.addPart(name, r, enc)
	if err != nil {
		return Part{}, &Error{Part: name, Op: "add part", Err: err}
	}
	return p, nil
}

func (w *Writer) addPart(name string, r io.Reader, enc Encoding) (Part, error) {
	switch {
	case w.closed:
		return Part{}, errWriterClosed
	case w.err != nil:
		return Part{}, fmt.Errorf("image writer failed earlier: %w", w.err)
	case !validName(name):
		return Part{}, fmt.Errorf("invalid part name: want 1 to %d characters of A-Z a-z 0-9 . - _", MaxNameLen)
	case w.names[name]:
		return Part{}, errors.New("duplicate part name")
	case !enc.valid():
		return Part{}, fmt.Errorf("unknown encoding %q (want %q, %q or %q)", enc, Raw, LZ4, Blocks)
	case len(w.parts) >= MaxParts:
		return Part{}, fmt.Errorf("too many parts (at most %d)", MaxParts)
	}

	p := Part{Name: name, Offset: w.w.n, Encoding: enc}
	h := sha256.New()
	stored := io.MultiWriter(w.w, h) // the digest covers the stored bytes
	// Read one byte past the limit so that oversized input is noticed.
	src := &countingReader{r: io.LimitReader(r, MaxPartSize+1)}
	var err error
	switch enc {
	case Raw:
		_, err = io.Copy(stored, src)
	case LZ4:
		err = compressLZ4(stored, src)
	case Blocks:
		var idx [sha256.Size]byte
		_, idx, err = writeBlocks(stored, src)
		p.IndexSHA256 = hex.EncodeToString(idx[:])
	}
	if err != nil {
		w.err = err
		return Part{}, err
	}
	p.Size = w.w.n - p.Offset
	p.RawSize = src.n
	if p.RawSize > MaxPartSize || p.Size > MaxPartSize {
		w.err = fmt.Errorf("data is larger than the limit of %d bytes", int64(MaxPartSize))
		return Part{}, w.err
	}
	copy(p.digest[:], h.Sum(nil))
	p.SHA256 = hex.EncodeToString(p.digest[:])
	w.parts = append(w.parts, p)
	w.names[name] = true
	return p, nil
}

func compressLZ4(dst io.Writer, src io.Reader) error {
	zw := lz4.NewWriter(dst)
	if err := zw.Apply(lz4Options...); err != nil {
		return err
	}
	if _, err := io.Copy(zw, src); err != nil {
		return err
	}
	return zw.Close()
}

// AddManifest validates m and adds it, as JSON, as the raw part "manifest".
// Raw keeps it readable with tail(1) on the image.
func (w *Writer) AddManifest(m *Manifest) (Part, error) {
	data, err := EncodeManifest(m)
	if err != nil {
		return Part{}, &Error{Part: ManifestPart, Op: "add part", Err: err}
	}
	return w.AddPart(ManifestPart, bytes.NewReader(data), Raw)
}

// Close writes the table and the trailer, completing the image. It does not
// close the underlying writer. Calling Close again does nothing.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	if w.err != nil {
		return &Error{Op: "close", Err: w.err}
	}
	if err := w.finish(); err != nil {
		w.err = err
		return &Error{Op: "close", Err: err}
	}
	w.closed = true
	return nil
}

func (w *Writer) finish() error {
	parts := w.parts
	if parts == nil {
		parts = []Part{} // "parts": [] rather than null
	}
	tbl, err := json.Marshal(table{
		RuntimeSize:   w.runtimeSize,
		RuntimeSHA256: hex.EncodeToString(w.runtimeSHA256[:]),
		Parts:         parts,
	})
	if err != nil {
		return err
	}
	t := trailer{
		version:     FormatVersion,
		runtimeSize: uint64(w.runtimeSize),
		tableOffset: uint64(w.w.n),
		tableSize:   uint64(len(tbl)),
		tableSHA256: sha256.Sum256(tbl),
	}
	if _, err := w.w.Write(tbl); err != nil {
		return err
	}
	_, err = w.w.Write(t.marshal())
	return err
}

// countingWriter tracks the offset in the image being written.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// countingReader counts the raw bytes of a part. It deliberately hides any
// WriterTo of the wrapped reader so that every byte passes through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	max int
	b   []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}
