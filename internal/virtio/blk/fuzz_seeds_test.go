package blk

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/smolvm/smolvm/internal/fuzzcorpus"
	"github.com/smolvm/smolvm/internal/virtio/virtiotest"
)

// blkSeed builds a FuzzBlk input for one request. FuzzBlk reads
// descriptor i from raw[4i:4i+8] (address offset, length, flags, next as
// u16s), so consecutive descriptors overlap: the flags and next of one
// are the address and length of the following one. The layout used here
// makes that work for a header, a data buffer and a status byte:
//
//	d0 header: raw[64:80], flags NEXT (9&7), next 3
//	d3 data:   raw[0x102:], dataLen bytes, flags dataFlags, next 2
//	d2 status: raw[40], 1 byte, flags WRITE (0x102&7)
//	(d1 is not in the chain)
func blkSeed(typ uint32, sector uint64, dataLen, dataFlags uint16) []byte {
	raw := make([]byte, 80)
	for i, v := range []uint16{64, 16, 9, 3, 40, 1, 0x102, dataLen, dataFlags, 2} {
		binary.LittleEndian.PutUint16(raw[2*i:], v)
	}
	copy(raw[64:], header(typ, sector))
	return raw
}

func u16s(v ...uint16) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint16(b, x)
	}
	return b
}

// blkSeeds are FuzzBlk's committed corpus (testdata/fuzz/FuzzBlk).
func blkSeeds() map[string][]any {
	const next, write = 1, 2
	req := func(raw []byte) []any { return []any{raw, uint8(4), uint16(0)} }
	noStatus := blkSeed(typeIn, 0, 512, next|write)
	binary.LittleEndian.PutUint16(noStatus[12:], 0x100) // d2 readable
	// An 8-byte header descriptor: the header continues in the data buffer.
	shortHeader := blkSeed(typeOut, 0, 512, next)
	binary.LittleEndian.PutUint16(shortHeader[2:], 8)
	return map[string][]any{
		"read":                req(blkSeed(typeIn, 1, 512, next|write)),
		"write":               req(blkSeed(typeOut, 2, 512, next)),
		"flush":               req(blkSeed(typeFlush, 0, 0, next)),
		"get-id":              req(blkSeed(typeGetID, 0, idSize, next|write)),
		"unknown-type":        req(blkSeed(99, 0, 16, next|write)),
		"read-past-end":       req(blkSeed(typeIn, diskSize/sectorSize-1, 1024, next|write)),
		"write-past-end":      req(blkSeed(typeOut, diskSize/sectorSize, 512, next)),
		"huge-sector":         req(blkSeed(typeIn, 1<<62, 512, next|write)),
		"wrong-direction":     req(blkSeed(typeIn, 0, 512, next)),
		"write-into-writable": req(blkSeed(typeOut, 0, 512, next|write)),
		"no-status":           req(noStatus),
		"header-split":        req(shortHeader),
		"loop":                {u16s(64, 16, 9, 1, 1, 0), uint8(2), uint16(0)},
		"next-past-queue":     {u16s(64, 16, 9, 12), uint8(1), uint16(0)},
		"empty-slot":          {u16s(64, 16, 9, 3), uint8(1), uint16(5)},
		"no-descriptors":      {[]byte{}, uint8(0), uint16(0)},
	}
}

func TestFuzzBlkSeeds(t *testing.T) { fuzzcorpus.Check(t, "FuzzBlk", blkSeeds()) }

// A write whose status buffer is longer than one byte has a writable data
// byte after its readable data: the request is refused, and must not
// have written the readable part first.
func TestRefusedWriteLeavesDisk(t *testing.T) {
	disk := &memDisk{b: make([]byte, diskSize)}
	d := setup(t, New(disk, diskSize, false, ""))
	h := d.Alloc(headerSize, header(typeOut, 0))
	data := d.Alloc(512, bytes.Repeat([]byte{0xee}, 512))
	st := d.Alloc(2, nil)
	n := d.Submit(virtiotest.Desc{Addr: h, Len: headerSize}, virtiotest.Desc{Addr: data, Len: 512},
		virtiotest.Desc{Addr: st, Len: 2, Flags: virtiotest.FWrite})
	if n != 1 || d.Bytes(st+1, 1)[0] != statusIOErr {
		t.Fatalf("used %d status %d, want the request refused", n, d.Bytes(st+1, 1)[0])
	}
	if !bytes.Equal(disk.b, make([]byte, diskSize)) {
		t.Error("a refused write changed the disk")
	}
}
