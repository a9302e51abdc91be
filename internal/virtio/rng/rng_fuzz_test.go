package rng

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/smolvm/smolvm/internal/fuzzcorpus"
	"github.com/smolvm/smolvm/internal/virtio/virtiotest"
)

// FuzzRNG ops (the low two bits).
const (
	opSubmit   = iota // (op>>2)%4+1 descriptors: addr selector u8, len u16, flags u8, next u8 each
	opClock           // ms u16: the fake clock moves on
	opTimer           // the refill timer fires (called directly, so runs are repeatable)
	opAvailIdx        // idx u16: the guest publishes any avail index and kicks
)

const fuzzRate = 1000 // bytes per second

// Address selectors: buffers live in the data area, except these.
const (
	selOutside = 0xfe // straddles the end of guest memory
	selWraps   = 0xff // wraps around 2^64
)

// errSource is what a failing entropy source returns.
var errSource = errors.New("entropy source failed")

// source is an entropy source that, by mode, fills everything, returns
// short reads, or fails after half.
type source struct{ mode byte }

func (s *source) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 0xab
	}
	switch s.mode % 3 {
	case 1:
		return (len(p) + 1) / 2, nil
	case 2:
		return len(p) / 2, errSource
	}
	return len(p), nil
}

type rngSeed []byte

func (s rngSeed) submit(descs ...[5]byte) rngSeed {
	s = append(s, opSubmit|byte(len(descs)-1)<<2)
	for _, d := range descs {
		s = append(s, d[:]...)
	}
	return s
}

func desc(sel byte, n uint16, flags, next byte) [5]byte {
	return [5]byte{sel, byte(n), byte(n >> 8), flags, next}
}

func (s rngSeed) clock(ms uint16) rngSeed {
	return binary.LittleEndian.AppendUint16(append(s, opClock), ms)
}

func (s rngSeed) availIdx(idx uint16) rngSeed {
	return binary.LittleEndian.AppendUint16(append(s, opAvailIdx), idx)
}

func rngSeeds() map[string][]any {
	const next, write, indirect = 1, 2, 4
	seeds := map[string]rngSeed{
		"request":        rngSeed{0}.submit(desc(0, 64, write, 0)),
		"two-buffers":    rngSeed{0}.submit(desc(0, 16, write|next, 1), desc(1, 16, write, 0)),
		"over-budget":    rngSeed{0}.submit(desc(0, 4096, write, 0)).submit(desc(16, 64, write, 0)).clock(100).opTimer().clock(2000).opTimer(),
		"short-reads":    rngSeed{1}.submit(desc(0, 64, write, 0)),
		"source-fails":   rngSeed{2}.submit(desc(0, 64, write, 0)).submit(desc(1, 64, write, 0)),
		"readable":       rngSeed{0}.submit(desc(0, 64, 0, 0)),
		"readable-first": rngSeed{0}.submit(desc(0, 16, next, 1), desc(1, 16, write, 0)),
		"loop":           rngSeed{0}.submit(desc(0, 16, write|next, 1), desc(1, 16, write|next, 0)),
		"outside":        rngSeed{0}.submit(desc(selOutside, 64, write, 0)),
		"wraps-around":   rngSeed{0}.submit(desc(selWraps, 64, write, 0)),
		"zero-length":    rngSeed{0}.submit(desc(0, 0, write, 0)).submit(desc(0, 0, write|next, 1), desc(1, 8, write, 0)),
		"indirect":       rngSeed{0}.submit(desc(0, 16, indirect, 0)),
		"next-past":      rngSeed{0}.submit(desc(0, 16, write|next, 200)),
		"avail-jump":     rngSeed{0}.submit(desc(0, 16, write, 0)).availIdx(0x8000).clock(60000).opTimer(),
		"timer-idle":     rngSeed{0}.opTimer().clock(10).opTimer(),
	}
	out := make(map[string][]any, len(seeds))
	for name, s := range seeds {
		out[name] = []any{[]byte(s)}
	}
	return out
}

func (s rngSeed) opTimer() rngSeed { return append(s, opTimer) }

func TestFuzzRNGSeeds(t *testing.T) { fuzzcorpus.Check(t, "FuzzRNG", rngSeeds()) }

// FuzzRNG gives the entropy device arbitrary chains (in any direction,
// looping, outside memory, zero-length, indirect), avail indices, a
// clock that moves by the input and an entropy source that may return
// short reads or fail. The device must never deliver more than its rate
// allows (a full bucket plus the rate times the time passed), never
// complete more chains than were made available or a chain longer than
// the bucket, and work normally after a reset.
func FuzzRNG(f *testing.F) {
	for _, s := range rngSeeds() {
		f.Add(s[0].([]byte))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		src := &source{mode: data[0]}
		data = data[1:]
		clock := time.Unix(0, 0)
		dev := New(src, fuzzRate)
		dev.now = func() time.Time { return clock }
		d := virtiotest.New(t, dev)
		d.Init(d.Features(), 8)
		mem := d.Mem
		le := binary.LittleEndian
		u16 := func(addr uint64) uint16 { return le.Uint16(d.Bytes(addr, 2)) }
		var avail, used uint16
		var delivered, elapsed float64
		next := func(n int) []byte {
			b := make([]byte, n)
			data = data[copy(b, data):]
			return b
		}
		kick := func() {
			mem.WriteAt(le.AppendUint16(nil, avail), virtiotest.AvailAddr+2)
			d.W(virtiotest.RegQueueNotify, 0)
		}
		for ops := 0; len(data) > 0 && ops < 256; ops++ {
			op := next(1)[0]
			switch op & 3 {
			case opSubmit:
				n := int(op>>2)%4 + 1
				for i := range n {
					b := next(5)
					addr := virtiotest.DataAddr + uint64(b[0])*256
					switch b[0] {
					case selOutside:
						addr = virtiotest.MemSize - 8
					case selWraps:
						addr = ^uint64(0) - 7
					}
					var x [16]byte
					le.PutUint64(x[0:], addr)
					le.PutUint32(x[8:], uint32(le.Uint16(b[1:])))
					le.PutUint16(x[12:], uint16(b[3]))
					le.PutUint16(x[14:], uint16(b[4]))
					mem.WriteAt(x[:], virtiotest.DescAddr+16*uint64(i))
				}
				mem.WriteAt([]byte{0, 0}, virtiotest.AvailAddr+4+2*uint64(avail%8))
				avail++
				kick()
			case opClock:
				ms := le.Uint16(next(2))
				dev.mu.Lock()
				clock = clock.Add(time.Duration(ms) * time.Millisecond)
				dev.mu.Unlock()
				elapsed += float64(ms) / 1000
			case opTimer:
				dev.later()
			case opAvailIdx:
				avail = le.Uint16(next(2))
				kick()
			}
			// The device is the only writer of the used ring.
			now := u16(virtiotest.UsedAddr + 2)
			if did, pending := now-used, avail-used; did > pending {
				t.Fatalf("%d chains completed with %d available", did, pending)
			}
			for ; used != now; used++ {
				n := le.Uint32(d.Bytes(virtiotest.UsedAddr+4+8*uint64(used%8)+4, 4))
				if n > fuzzRate {
					t.Fatalf("one chain got %d bytes, more than the %d-byte bucket", n, fuzzRate)
				}
				delivered += float64(n)
			}
			if limit := fuzzRate*(1+elapsed) + 1; delivered > limit {
				t.Fatalf("delivered %.0f bytes in %.3fs, the rate allows %.0f", delivered, elapsed, limit)
			}
		}
		// Whatever happened, a reset and a clean driver get entropy.
		src.mode = 0
		d2 := virtiotest.New(t, dev)
		d2.Init(d2.Features(), 8)
		dev.mu.Lock()
		clock = clock.Add(2 * time.Second) // refills the budget
		dev.mu.Unlock()
		if n := d2.Submit(virtiotest.Desc{Addr: d2.Alloc(16, nil), Len: 16, Flags: virtiotest.FWrite}); n != 16 {
			t.Fatalf("after a reset a good request got %d bytes, want 16", n)
		}
	})
}
