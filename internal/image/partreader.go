package image

import (
	"crypto/sha256"
	"errors"
	"hash"
	"io"

	"github.com/pierrec/lz4/v4"
)

// PartReader streams a part's decoded data, so large parts (the kernel,
// the initramfs) can be decoded straight into guest memory without a copy
// in the VMM's heap. The SHA-256 of the stored bytes is checked when the
// data ends: Read returns io.EOF only if the digest matched and the data
// decoded to exactly raw_size bytes; otherwise the final Read returns an
// *Error matching ErrCorrupt. A caller that reads an exact size must then
// read once more to see that verdict (see ReadFull).
type PartReader struct {
	r     *Reader
	p     *Part
	h     hash.Hash
	hashd io.Reader // stored bytes, hashed as they are read
	data  io.Reader // decoded bytes
	n     int64     // decoded bytes delivered
	err   error     // sticky result once the data has ended
}

// OpenPart returns a streaming reader for the named part.
func (r *Reader) OpenPart(name string) (*PartReader, error) {
	i, ok := r.index[name]
	if !ok {
		return nil, r.wrap(name, "read part", ErrNoPart)
	}
	p := &r.parts[i]
	pr := &PartReader{r: r, p: p, h: sha256.New()}
	pr.hashd = io.TeeReader(io.NewSectionReader(r.r, p.Offset, p.Size), pr.h)
	pr.data = pr.hashd
	switch p.Encoding {
	case LZ4:
		pr.data = lz4.NewReader(pr.hashd)
	case Blocks:
		// Decoded through the index (each block checked); the digest
		// of the whole part is still checked at the end, finish
		// hashing all stored bytes.
		br, err := r.OpenBlocks(name)
		if err != nil {
			return nil, err
		}
		pr.data = io.NewSectionReader(br, 0, br.Size())
	}
	return pr, nil
}

// Size is the decoded size of the part.
func (pr *PartReader) Size() int64 { return pr.p.RawSize }

func (pr *PartReader) Read(b []byte) (int, error) {
	if pr.err != nil {
		return 0, pr.err
	}
	// Never deliver more than raw_size bytes, whatever the stream holds.
	if left := pr.p.RawSize - pr.n; int64(len(b)) > left {
		b = b[:left]
	}
	var n int
	var err error
	if len(b) > 0 {
		n, err = pr.data.Read(b)
		pr.n += int64(n)
	}
	switch {
	case err == nil && pr.n < pr.p.RawSize:
		return n, nil
	case err != nil && !errors.Is(err, io.EOF):
		pr.err = pr.digestOr(corruptf("data cannot be decoded: %v", err))
	case pr.n < pr.p.RawSize:
		pr.err = pr.digestOr(corruptf("data decodes to %d bytes, want raw_size %d", pr.n, pr.p.RawSize))
	default:
		pr.err = pr.finish()
	}
	if n > 0 && errors.Is(pr.err, io.EOF) {
		return n, nil
	}
	return n, pr.err
}

// digestOr reports a decoding failure, unless the stored bytes do not
// match their digest: then that is the cause (the file was damaged or
// modified), and the error says so, as it would had the data decoded.
func (pr *PartReader) digestOr(decodeErr error) error {
	if _, err := io.Copy(io.Discard, pr.hashd); err != nil {
		return pr.r.wrap(pr.p.Name, "read part", err)
	}
	if err := pr.checkDigest(); err != nil {
		return err
	}
	return pr.r.wrap(pr.p.Name, "read part", decodeErr)
}

func (pr *PartReader) checkDigest() error {
	var got [sha256.Size]byte
	pr.h.Sum(got[:0])
	if got != pr.p.digest {
		return pr.r.wrap(pr.p.Name, "read part", corruptf("SHA-256 mismatch (file corrupted or modified): want %s, got %s", short(pr.p.digest[:]), short(got[:])))
	}
	return nil
}

// finish checks that nothing decodes past raw_size, hashes what is left
// of the stored bytes, and compares the digest.
func (pr *PartReader) finish() error {
	var one [1]byte
	if n, _ := pr.data.Read(one[:]); n > 0 {
		return pr.r.wrap(pr.p.Name, "read part", corruptf("data decodes to more than raw_size %d bytes", pr.p.RawSize))
	}
	if _, err := io.Copy(io.Discard, pr.hashd); err != nil {
		return pr.r.wrap(pr.p.Name, "read part", err)
	}
	if err := pr.checkDigest(); err != nil {
		return err
	}
	return io.EOF
}

// ReadFull fills b from r and then reads to the end, so that a
// PartReader's verdict is seen: it returns nil only if b was filled and
// the stream ended cleanly right after.
func ReadFull(r io.Reader, b []byte) error {
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return errors.New("part is shorter than expected")
		}
		return err
	}
	var one [1]byte
	n, err := r.Read(one[:])
	if n > 0 {
		return errors.New("part is longer than expected")
	}
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// RawSection returns the stored bytes of a raw part as a section of the
// image file, for a device that serves them in place (the root
// filesystem, read by the guest through virtio-blk without being copied
// or extracted). Its digest is checked only by reading it through
// OpenPart or Verify.
func (r *Reader) RawSection(name string) (*io.SectionReader, error) {
	i, ok := r.index[name]
	if !ok {
		return nil, r.wrap(name, "open part", ErrNoPart)
	}
	p := &r.parts[i]
	if p.Encoding != Raw {
		return nil, r.wrap(name, "open part", corruptf("encoding is %s; only a raw part can be served in place", p.Encoding))
	}
	return io.NewSectionReader(r.r, p.Offset, p.Size), nil
}
