package image

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/pierrec/lz4/v4"
)

// The Blocks encoding stores data as independently compressed blocks
// followed by an index, so that a reader can decode any block alone and
// check it against its own SHA-256:
//
//	[block 0][block 1]...[index: one entry per block][footer]
//
//	entry (48 bytes):  offset u64 (from the part's start), stored length
//	                   u32, flags u32 (blockLZ4: LZ4 block format, else
//	                   stored as is), SHA-256 of the decoded block
//	footer (32 bytes): "SMOLBLK1", block size u32, block count u32,
//	                   decoded size u64, index offset u64
//
// All integers are little-endian. Blocks are contiguous, in order, from
// offset 0 to the index; every block but the last decodes to exactly the
// block size. The table records, besides the digest of the whole part,
// index_sha256: the digest of index and footer together.
//
// Why: the root filesystem is served to the guest in place. Hashing all of
// it before boot would cost the VMM tens of milliseconds for a Debian root
// (and the whole root's I/O) at every start; with Blocks the VMM checks
// the small index at start and each block as the guest reads it, so a
// damaged file is still never served, and the part is compressed without
// the guest kernel ever decompressing anything.
const (
	blocksMagic      = "SMOLBLK1"
	blocksFooterSize = 32
	blocksEntrySize  = 48
	blockLZ4         = 1

	// BlocksSize is the block size the writer uses: larger than a
	// guest's usual read-ahead request (512 KiB with virtio-blk's
	// topology) would waste decoding, smaller compresses worse; the
	// reader keeps one decoded and one stored block, so it is also
	// VMM memory (128 KiB: 2% smaller roots than 64 KiB, 0.13 MiB more
	// resident).
	BlocksSize = 128 << 10
	// minBlockSize and maxBlockSize bound what a reader accepts.
	minBlockSize = 4 << 10
	maxBlockSize = 1 << 20
)

// blockEntry is one decoded index entry.
type blockEntry struct {
	offset int64
	stored int64
	lz4    bool
	digest [sha256.Size]byte
}

// blockIndex is a validated index.
type blockIndex struct {
	blockSize int64
	rawSize   int64
	entries   []blockEntry
}

// rawLen is the decoded length of block i.
func (x *blockIndex) rawLen(i int) int64 {
	return min(x.blockSize, x.rawSize-int64(i)*x.blockSize)
}

// writeBlocks compresses src in BlocksSize blocks to dst and appends the
// index and footer. It returns the decoded size and the digest of index
// plus footer.
func writeBlocks(dst io.Writer, src io.Reader) (int64, [sha256.Size]byte, error) {
	var (
		index   []byte
		off     int64
		rawSize int64
		count   uint32
		c       lz4.CompressorHC
	)
	c.Level = lz4.Level9
	buf := make([]byte, BlocksSize)
	zbuf := make([]byte, lz4.CompressBlockBound(BlocksSize))
	for {
		n, err := io.ReadFull(src, buf)
		if n > 0 {
			raw := buf[:n]
			stored, flags := raw, uint32(0)
			if z, zerr := c.CompressBlock(raw, zbuf); zerr == nil && z > 0 && z < n {
				stored, flags = zbuf[:z], blockLZ4
			}
			if _, werr := dst.Write(stored); werr != nil {
				return 0, [32]byte{}, werr
			}
			d := sha256.Sum256(raw)
			index = binary.LittleEndian.AppendUint64(index, uint64(off))
			index = binary.LittleEndian.AppendUint32(index, uint32(len(stored)))
			index = binary.LittleEndian.AppendUint32(index, flags)
			index = append(index, d[:]...)
			off += int64(len(stored))
			rawSize += int64(n)
			count++
			if rawSize > MaxPartSize {
				return 0, [32]byte{}, fmt.Errorf("data is larger than the limit of %d bytes", int64(MaxPartSize))
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return 0, [32]byte{}, err
		}
	}
	index = append(index, blocksMagic...)
	index = binary.LittleEndian.AppendUint32(index, BlocksSize)
	index = binary.LittleEndian.AppendUint32(index, count)
	index = binary.LittleEndian.AppendUint64(index, uint64(rawSize))
	index = binary.LittleEndian.AppendUint64(index, uint64(off))
	if _, err := dst.Write(index); err != nil {
		return 0, [32]byte{}, err
	}
	return rawSize, sha256.Sum256(index), nil
}

// parseBlockIndex validates index plus footer (tail, the last bytes of a
// part of partSize stored bytes and rawSize decoded ones) against the
// part's index digest, then every entry. Nothing is allocated from a
// value before it is checked.
func parseBlockIndex(tail []byte, partSize, rawSize int64, digest [sha256.Size]byte) (*blockIndex, error) {
	if sha256.Sum256(tail) != digest {
		return nil, corruptf("block index SHA-256 mismatch (file corrupted or modified)")
	}
	if len(tail) < blocksFooterSize {
		return nil, corruptf("block index shorter than its footer")
	}
	f := tail[len(tail)-blocksFooterSize:]
	if string(f[:8]) != blocksMagic {
		return nil, corruptf("block index footer has no magic")
	}
	bs := int64(binary.LittleEndian.Uint32(f[8:]))
	count := int64(binary.LittleEndian.Uint32(f[12:]))
	raw := int64(binary.LittleEndian.Uint64(f[16:]))
	indexOff := binary.LittleEndian.Uint64(f[24:])
	switch {
	case bs < minBlockSize || bs > maxBlockSize || bs&(bs-1) != 0:
		return nil, corruptf("block size %d is not a power of two from %d to %d", bs, minBlockSize, maxBlockSize)
	case raw != rawSize:
		return nil, corruptf("block index says %d decoded bytes, the table %d", raw, rawSize)
	case count != (raw+bs-1)/bs:
		return nil, corruptf("%d blocks cannot hold %d bytes of %d-byte blocks", count, raw, bs)
	case int64(len(tail)) != count*blocksEntrySize+blocksFooterSize:
		return nil, corruptf("block index of %d bytes for %d blocks", len(tail), count)
	case indexOff != uint64(partSize)-uint64(len(tail)):
		return nil, corruptf("block index offset %d, want %d", indexOff, partSize-int64(len(tail)))
	}
	x := &blockIndex{blockSize: bs, rawSize: raw, entries: make([]blockEntry, count)}
	var next int64
	for i := range x.entries {
		e := tail[i*blocksEntrySize:]
		be := blockEntry{
			offset: int64(binary.LittleEndian.Uint64(e)),
			stored: int64(binary.LittleEndian.Uint32(e[8:])),
			lz4:    binary.LittleEndian.Uint32(e[12:])&blockLZ4 != 0,
		}
		copy(be.digest[:], e[16:48])
		flags := binary.LittleEndian.Uint32(e[12:])
		rl := x.rawLen(i)
		switch {
		case flags&^blockLZ4 != 0:
			return nil, corruptf("block %d: unknown flags %#x", i, flags)
		case be.offset != next:
			return nil, corruptf("block %d at offset %d, want %d (blocks are contiguous)", i, be.offset, next)
		case !be.lz4 && be.stored != rl:
			return nil, corruptf("block %d: %d stored bytes for %d raw", i, be.stored, rl)
		case be.lz4 && (be.stored == 0 || be.stored > int64(lz4.CompressBlockBound(int(rl)))):
			return nil, corruptf("block %d: %d bytes of LZ4 cannot decode to %d", i, be.stored, rl)
		}
		next += be.stored
		x.entries[i] = be
	}
	if next != int64(indexOff) {
		return nil, corruptf("blocks end at %d, the index starts at %d", next, indexOff)
	}
	return x, nil
}

// decodeBlock decodes stored block i into dst (rawLen bytes) and checks it.
func (x *blockIndex) decodeBlock(i int, stored, dst []byte) error {
	e := x.entries[i]
	if e.lz4 {
		n, err := lz4.UncompressBlock(stored, dst)
		if err != nil || int64(n) != x.rawLen(i) {
			return corruptf("block %d cannot be decoded (file corrupted or modified)", i)
		}
	} else {
		copy(dst, stored)
	}
	if sha256.Sum256(dst) != e.digest {
		return corruptf("block %d SHA-256 mismatch (file corrupted or modified)", i)
	}
	return nil
}

// BlockReader serves a Blocks part's decoded data at any offset, checking
// every block it decodes against the index. It keeps the last decoded
// block, so a guest reading sequentially in pieces decodes each block
// once. Safe for concurrent use.
type BlockReader struct {
	r    *Reader
	p    *Part
	x    *blockIndex
	mu   sync.Mutex // guards the buffers below
	zbuf []byte
	last int // index of the block in buf, -1 for none
	buf  []byte
}

// OpenBlocks checks a Blocks part's index and returns a reader for its
// decoded data. Block data is checked as it is read.
func (r *Reader) OpenBlocks(name string) (*BlockReader, error) {
	i, ok := r.index[name]
	if !ok {
		return nil, r.wrap(name, "open part", ErrNoPart)
	}
	p := &r.parts[i]
	x, err := r.blockIndex(p)
	if err != nil {
		return nil, r.wrap(name, "open part", err)
	}
	return &BlockReader{r: r, p: p, x: x, last: -1,
		buf: make([]byte, x.blockSize), zbuf: make([]byte, lz4.CompressBlockBound(int(x.blockSize)))}, nil
}

// blockIndex reads and validates p's index.
func (r *Reader) blockIndex(p *Part) (*blockIndex, error) {
	if p.Encoding != Blocks {
		return nil, corruptf("encoding is %s, not %s", p.Encoding, Blocks)
	}
	// The index is 48 bytes per block: bounded by the part's size,
	// itself bounded by the table's checks against the file size.
	n := maxIndex(p)
	tail, err := r.readAt(p.Offset+p.Size-n, n, "block index")
	if err != nil {
		return nil, err
	}
	return parseBlockIndex(trimIndex(tail), p.Size, p.RawSize, p.indexDigest)
}

// maxIndex is the most bytes p's index and footer can take: 48 per
// block of the smallest size, bounded by the part itself.
func maxIndex(p *Part) int64 {
	return min(p.Size, (p.RawSize/minBlockSize+1)*blocksEntrySize+blocksFooterSize)
}

// trimIndex cuts the bytes before the index off tail (the last maxIndex
// bytes of a part), going by the footer's block count; parseBlockIndex
// checks the result, whatever the footer says.
func trimIndex(tail []byte) []byte {
	if len(tail) < blocksFooterSize {
		return tail
	}
	f := tail[len(tail)-blocksFooterSize:]
	if n := int64(binary.LittleEndian.Uint32(f[12:]))*blocksEntrySize + blocksFooterSize; n <= int64(len(tail)) {
		return tail[int64(len(tail))-n:]
	}
	return tail
}

// Size is the decoded size.
func (b *BlockReader) Size() int64 { return b.x.rawSize }

// ReadAt reads decoded data. A block that fails its check makes the read
// fail with an *Error matching ErrCorrupt.
func (b *BlockReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for n < len(p) && off < b.x.rawSize {
		i := int(off / b.x.blockSize)
		if err := b.load(i); err != nil {
			return n, b.r.wrap(b.p.Name, "read", err)
		}
		k := copy(p[n:], b.buf[off-int64(i)*b.x.blockSize:b.x.rawLen(i)])
		n += k
		off += int64(k)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// load decodes block i into b.buf.
func (b *BlockReader) load(i int) error {
	if b.last == i {
		return nil
	}
	b.last = -1
	e := b.x.entries[i]
	stored := b.zbuf[:e.stored]
	if k, err := b.r.r.ReadAt(stored, b.p.Offset+e.offset); int64(k) != e.stored {
		if err == nil || errors.Is(err, io.EOF) {
			return newProblem(ErrTruncated, "file is truncated: it ended in block %d", i)
		}
		return err
	}
	if err := b.x.decodeBlock(i, stored, b.buf[:b.x.rawLen(i)]); err != nil {
		return err
	}
	b.last = i
	return nil
}

// decodeBlocks decodes a whole Blocks part from its stored bytes.
func decodeBlocks(stored []byte, p *Part) ([]byte, error) {
	tail := trimIndex(stored[int64(len(stored))-maxIndex(p):])
	x, err := parseBlockIndex(tail, p.Size, p.RawSize, p.indexDigest)
	if err != nil {
		return nil, err
	}
	out := make([]byte, x.rawSize)
	for i, e := range x.entries {
		start := int64(i) * x.blockSize
		if err := x.decodeBlock(i, stored[e.offset:e.offset+e.stored], out[start:start+x.rawLen(i)]); err != nil {
			return nil, err
		}
	}
	return out, nil
}
