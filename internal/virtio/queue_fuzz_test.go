package virtio_test

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/smolvm/smolvm/internal/fuzzcorpus"
	"github.com/smolvm/smolvm/internal/memory"
	"github.com/smolvm/smolvm/internal/virtio"
)

// Fuzz guest memory: two adjacent regions (separate host mappings, so a
// buffer may not span them) and a small one further up, leaving holes.
var fuzzRegions = []memory.Range{
	{Addr: 0, Size: 0x10000},
	{Addr: 0x10000, Size: 0x10000},
	{Addr: 0x100000, Size: 0x1000},
}

// Default ring layout in fuzz memory (room for a 256-entry queue).
const (
	fDesc  = 0x0000
	fAvail = 0x1000
	fUsed  = 0x2000
	fData  = 0x4000
)

// maxChainBytes mirrors the queue's cap on the bytes one chain describes.
const maxChainBytes = 16 << 20

// inside reports whether [addr, addr+n) lies in one fuzz region,
// computed without trusting memory.Slice (the reference the queue is
// compared with).
func inside(addr, n uint64) bool {
	for _, r := range fuzzRegions {
		end := r.Addr + r.Size
		if addr >= r.Addr && addr <= end && n <= end-addr {
			return true
		}
	}
	return false
}

// countingMem is guest memory that counts accesses, so a test can bound
// the work one operation does (a loop that never ends shows up as a
// budget overrun instead of a hung fuzzer).
type countingMem struct {
	t      testing.TB
	m      *memory.Memory
	calls  int
	budget int
}

func (c *countingMem) Slice(addr, n uint64) ([]byte, error) {
	c.calls++
	if c.calls > c.budget {
		c.t.Fatalf("more than %d guest memory accesses in one operation: unbounded processing", c.budget)
	}
	b, err := c.m.Slice(addr, n)
	if err == nil && (!inside(addr, n) || uint64(len(b)) != n) {
		c.t.Fatalf("Slice(%#x, %#x) returned %d bytes outside guest memory", addr, n, len(b))
	}
	return b, err
}

func newFuzzMem(t testing.TB) *memory.Memory {
	m, err := memory.New(fuzzRegions...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// input decodes fuzz bytes; past the end it reads zeros.
type input struct {
	b []byte
}

func (in *input) more() bool { return len(in.b) > 0 }

func (in *input) bytes(n int) []byte {
	out := make([]byte, n)
	k := copy(out, in.b)
	in.b = in.b[k:]
	return out
}

func (in *input) u8() uint8   { return in.bytes(1)[0] }
func (in *input) u16() uint16 { return binary.LittleEndian.Uint16(in.bytes(2)) }
func (in *input) u32() uint32 { return binary.LittleEndian.Uint32(in.bytes(4)) }
func (in *input) u64() uint64 { return binary.LittleEndian.Uint64(in.bytes(8)) }

// queueSizes are the sizes a FuzzQueue input picks from: every valid one
// and some that Validate must refuse.
var queueSizes = [16]uint16{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 0, 3, 6, 255, 1024, 0xffff}

// FuzzQueue ops.
const (
	qopDesc        = iota // idx u16, addr (u32, or u64 with the 0x80 bit), len u32, flags u16, next u16
	qopAvail              // slot u16, head u16: one avail ring entry
	qopAvailIdx           // idx u16: the avail index, as the guest publishes it
	qopPop                // pop one chain (and complete it)
	qopDrain              // pop and complete everything available
	qopMem                // addr u16, n u8, data: raw guest memory
	qopReset              // reset the queue; revalidate if the next byte is even
	qopNoInterrupt        // flags u16: the avail ring's flags; NeedInterrupt must follow
	qopCount
)

// queueSeed is a FuzzQueue input under construction.
type queueSeed []byte

func newQueueSeed(sizeIndex byte, raw bool, desc, avail, used uint64) queueSeed {
	s := queueSeed{sizeIndex, 0}
	if raw {
		s[1] = 1
		s = binary.LittleEndian.AppendUint64(s, desc)
		s = binary.LittleEndian.AppendUint64(s, avail)
		s = binary.LittleEndian.AppendUint64(s, used)
	}
	return s
}

func (s queueSeed) desc(idx uint16, addr uint64, n uint32, flags, next uint16) queueSeed {
	s = append(s, qopDesc|0x80)
	s = binary.LittleEndian.AppendUint16(s, idx)
	s = binary.LittleEndian.AppendUint64(s, addr)
	s = binary.LittleEndian.AppendUint32(s, n)
	s = binary.LittleEndian.AppendUint16(s, flags)
	return binary.LittleEndian.AppendUint16(s, next)
}

func (s queueSeed) avail(slot, head uint16) queueSeed {
	s = append(s, qopAvail)
	s = binary.LittleEndian.AppendUint16(s, slot)
	return binary.LittleEndian.AppendUint16(s, head)
}

func (s queueSeed) availIdx(idx uint16) queueSeed {
	return binary.LittleEndian.AppendUint16(append(s, qopAvailIdx), idx)
}

func (s queueSeed) op(op byte, arg ...byte) queueSeed { return append(append(s, op), arg...) }

// submit makes one chain available at slot (with avail idx slot+1).
func (s queueSeed) submit(slot, head uint16) queueSeed {
	return s.avail(slot, head).availIdx(slot + 1)
}

// queueSeeds are FuzzQueue's committed corpus (testdata/fuzz/FuzzQueue).
func queueSeeds() map[string][]any {
	const (
		next, write, indirect = 1, 2, 4
		size8                 = 3 // queueSizes[3] == 8
	)
	std := func() queueSeed { return newQueueSeed(size8, false, 0, 0, 0) }
	seeds := map[string]queueSeed{
		"request": std().desc(0, fData, 16, next, 1).desc(1, fData+16, 512, next|write, 2).desc(2, fData+528, 1, write, 0).
			submit(0, 0).op(qopDrain),
		"two-chains": std().desc(0, fData, 16, 0, 0).desc(1, fData+16, 16, write, 0).
			avail(0, 0).avail(1, 1).availIdx(2).op(qopPop).op(qopPop).op(qopPop),
		"loop":            std().desc(0, fData, 16, next, 1).desc(1, fData, 16, next, 0).submit(0, 0).op(qopDrain),
		"self-loop":       std().desc(3, fData, 1, next, 3).submit(0, 3).op(qopDrain),
		"chain-16":        chainLonger(std()),
		"next-past":       std().desc(0, fData, 16, next, 200).submit(0, 0).op(qopDrain),
		"head-past":       std().desc(0, fData, 16, 0, 0).submit(0, 9).op(qopDrain),
		"past-memory":     std().desc(0, 0x20000-8, 16, write, 0).submit(0, 0).op(qopDrain),
		"across-regions":  std().desc(0, 0x10000-8, 16, write, 0).submit(0, 0).op(qopDrain),
		"in-hole":         std().desc(0, 0x80000, 16, 0, 0).submit(0, 0).op(qopDrain),
		"wraps-around":    std().desc(0, ^uint64(0)-7, 16, write, 0).submit(0, 0).op(qopDrain),
		"huge":            std().desc(0, fData, 0xffffffff, write, 0).submit(0, 0).op(qopDrain),
		"zero-length":     std().desc(0, fData, 0, write, 0).submit(0, 0).op(qopDrain),
		"write-then-read": std().desc(0, fData, 16, write|next, 1).desc(1, fData, 16, 0, 0).submit(0, 0).op(qopDrain),
		"indirect": std().desc(0, fData, 32, indirect, 0).desc(1, fData, 16, write, 0).
			op(qopMem, 0x00, 0x40, 16, 0, 0x40, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 2, 0, 0, 0).submit(0, 0).op(qopDrain),
		"indirect-nested": std().desc(0, fData, 16, indirect, 0).
			op(qopMem, 0x00, 0x40, 16, 0, 0x40, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 4, 0, 0, 0).submit(0, 0).op(qopDrain),
		"indirect-zero": std().desc(0, fData, 0, indirect, 0).submit(0, 0).op(qopDrain),
		"indirect-huge": std().desc(0, fData, 0xfffffff0, indirect|next, 1).submit(0, 0).op(qopDrain),
		"avail-jump":    std().desc(0, fData, 16, write, 0).availIdx(0x8000).op(qopPop).op(qopPop).op(qopPop),
		"avail-back":    std().desc(0, fData, 16, write, 0).submit(0, 0).op(qopDrain).availIdx(0).op(qopPop),
		"no-interrupt":  std().op(qopNoInterrupt, 1, 0).desc(0, fData, 16, write, 0).submit(0, 0).op(qopDrain).op(qopNoInterrupt, 0, 0),
		"reset-unready": std().desc(0, fData, 16, write, 0).submit(0, 0).op(qopReset, 1).op(qopPop).op(qopNoInterrupt, 0, 0),
		"reset-again":   std().desc(0, fData, 16, write, 0).submit(0, 0).op(qopDrain).op(qopReset, 0).submit(0, 0).op(qopDrain),
		"size-256":      newQueueSeed(8, false, 0, 0, 0).desc(255, fData, 16, write, 0).avail(255, 255).availIdx(256).op(qopDrain),
		"size-not-pow2": newQueueSeed(11, false, 0, 0, 0).submit(0, 0).op(qopDrain),
		"size-too-big":  newQueueSeed(9, false, 0, 0, 0).submit(0, 0).op(qopDrain),
		"rings-unaligned": newQueueSeed(size8, true, 8, fAvail+1, fUsed+2).
			submit(0, 0).op(qopDrain),
		"rings-outside": newQueueSeed(size8, true, fDesc, fAvail, 0x20000-8).submit(0, 0).op(qopDrain),
		"rings-overlap": newQueueSeed(size8, true, fDesc, fAvail, fAvail).
			desc(0, fData, 16, write, 0).submit(0, 0).op(qopDrain),
		"rings-wrap":     newQueueSeed(size8, true, ^uint64(0)-15, fAvail, fUsed).submit(0, 0).op(qopDrain),
		"ring-in-buffer": std().desc(0, fAvail, 16, write, 0).submit(0, 0).op(qopDrain),
	}
	out := make(map[string][]any, len(seeds))
	for name, s := range seeds {
		out[name] = []any{[]byte(s)}
	}
	return out
}

// chainLonger links all 8 descriptors and back to the first: a chain
// longer than the queue.
func chainLonger(s queueSeed) queueSeed {
	for i := uint16(0); i < 8; i++ {
		s = s.desc(i, fData, 1, 1, (i+1)%8)
	}
	return s.submit(0, 0).op(qopDrain)
}

func TestFuzzQueueSeeds(t *testing.T) { fuzzcorpus.Check(t, "FuzzQueue", queueSeeds()) }

// FuzzQueue gives the split virtqueue arbitrary set-ups, descriptor
// tables and avail rings: loops, chains longer than the queue, indirect
// descriptors, buffers past the end of memory, across regions or
// wrapping around 2^64, huge and zero lengths, writable buffers before
// readable ones, avail indices that jump or go back. It checks:
//
//   - Validate accepts exactly the set-ups whose rings are aligned and
//     inside guest memory, with a power-of-two size up to the maximum;
//   - Pop terminates with bounded work, returns nothing exactly when
//     nothing is available, and otherwise the chain at the next avail
//     slot: either the chain a reference walk finds (the same buffers,
//     aliasing guest memory) or, when the reference finds it malformed,
//     an error wrapping ErrBadChain;
//   - Push advances the used index by one and writes the element;
//   - NeedInterrupt follows VIRTQ_AVAIL_F_NO_INTERRUPT, and nothing
//     touches memory through a queue that is not live.
func FuzzQueue(f *testing.F) {
	for _, s := range queueSeeds() {
		f.Add(s[0].([]byte))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m := newFuzzMem(t)
		mem := &countingMem{t: t, m: m, budget: 1 << 20}
		in := &input{b: data}
		size := queueSizes[in.u8()%16]
		q := &virtio.Queue{Size: size, Desc: fDesc, Avail: fAvail, Used: fUsed}
		if in.u8()&1 != 0 {
			q.Desc, q.Avail, q.Used = in.u64(), in.u64(), in.u64()
		}
		h := &queueHarness{t: t, m: m, mem: mem, q: q}
		h.validate()
		for ops := 0; in.more() && ops < 256; ops++ {
			mem.calls = 0
			op := in.u8()
			switch op & 0x7f % qopCount {
			case qopDesc:
				idx := in.u16()
				addr := uint64(in.u32())
				if op&0x80 != 0 {
					addr = addr | uint64(in.u32())<<32
				}
				var d [16]byte
				binary.LittleEndian.PutUint64(d[0:], addr)
				binary.LittleEndian.PutUint32(d[8:], in.u32())
				binary.LittleEndian.PutUint16(d[12:], in.u16())
				binary.LittleEndian.PutUint16(d[14:], in.u16())
				m.WriteAt(d[:], h.q.Desc+16*uint64(idx))
			case qopAvail:
				slot := in.u16()
				m.WriteAt(in.bytes(2), h.q.Avail+4+2*uint64(slot))
			case qopAvailIdx:
				m.WriteAt(in.bytes(2), h.q.Avail+2)
			case qopPop:
				if h.pops < maxPops {
					h.pop()
				}
			case qopDrain:
				// At most one full turn of the 16-bit index (a
				// device's kick is bounded the same way), and at most
				// maxPops for the whole input, to keep inputs fast.
				for i := 0; i <= 0xffff && h.pops < maxPops && h.pop(); i++ {
				}
			case qopMem:
				addr := uint64(in.u16())
				m.WriteAt(in.bytes(int(in.u8())), addr)
			case qopReset:
				h.q.Reset()
				h.q.Size, h.q.Desc, h.q.Avail, h.q.Used = size, h.desc, h.avail, h.used
				h.lastAvail, h.usedIdx = 0, 0
				if in.u8()&1 == 0 {
					h.validate()
				}
			case qopNoInterrupt:
				m.WriteAt(in.bytes(2), h.q.Avail)
				h.checkInterrupt()
			}
		}
	})
}

type queueHarness struct {
	t                 *testing.T
	m                 *memory.Memory
	mem               *countingMem
	q                 *virtio.Queue
	desc, avail, used uint64 // the set-up, kept across resets
	lastAvail         uint16 // the queue's next avail slot, as the harness sees it
	usedIdx           uint16
	pops              int
}

// maxPops bounds the chains one FuzzQueue input pops (each is checked
// against a reference walk, so a few full turns of the index would make
// an input take seconds).
const maxPops = 1 << 12

// validate sets the queue up and checks Validate against the rules.
func (h *queueHarness) validate() {
	q := h.q
	h.desc, h.avail, h.used = q.Desc, q.Avail, q.Used
	n := uint64(q.Size)
	want := q.Size != 0 && q.Size <= virtio.MaxQueueSize && q.Size&(q.Size-1) == 0 &&
		q.Desc%16 == 0 && q.Avail%2 == 0 && q.Used%4 == 0 &&
		inside(q.Desc, 16*n) && inside(q.Avail, 6+2*n) && inside(q.Used, 6+8*n)
	err := q.Validate(h.mem, virtio.MaxQueueSize)
	if (err == nil) != want {
		h.t.Fatalf("Validate(size %d, desc %#x, avail %#x, used %#x) = %v, want ok=%v", q.Size, q.Desc, q.Avail, q.Used, err, want)
	}
	q.Ready = err == nil
}

func (h *queueHarness) u16(addr uint64) uint16 {
	var b [2]byte
	if err := h.m.ReadAt(b[:], addr); err != nil {
		h.t.Fatalf("harness read at %#x: %v", addr, err)
	}
	return binary.LittleEndian.Uint16(b[:])
}

// pop takes one chain, checks it against the reference and completes it;
// it reports whether there was one.
func (h *queueHarness) pop() bool {
	q := h.q
	h.mem.calls = 0
	h.pops++
	c, err := q.Pop()
	if calls := h.mem.calls; calls > int(q.Size)+3 {
		h.t.Fatalf("Pop made %d guest memory accesses for a queue of %d", calls, q.Size)
	}
	if !q.Ready {
		if c != nil || err != nil || q.Pending() {
			h.t.Fatalf("a queue that is not live returned a chain (%v, %v)", c, err)
		}
		q.Push(0, 0) // a late completion after reset must not touch memory
		h.checkInterrupt()
		return false
	}
	if h.u16(h.avail+2) == h.lastAvail {
		if c != nil || err != nil {
			h.t.Fatalf("Pop returned (%v, %v) with nothing available", c, err)
		}
		return false
	}
	if c == nil {
		h.t.Fatalf("Pop returned nothing with avail idx %d, next %d", h.u16(h.avail+2), h.lastAvail)
	}
	head := h.u16(h.avail + 4 + 2*uint64(h.lastAvail%q.Size))
	h.lastAvail++
	if c.Head != head {
		h.t.Fatalf("chain head %d, avail ring says %d", c.Head, head)
	}
	ref, refErr := h.walk(head)
	switch {
	case err != nil && !errors.Is(err, virtio.ErrBadChain):
		h.t.Fatalf("Pop error %v does not wrap ErrBadChain", err)
	case err != nil && refErr == nil:
		h.t.Fatalf("Pop refused a well-formed chain: %v", err)
	case err == nil && refErr != nil:
		h.t.Fatalf("Pop accepted a malformed chain (%s): %d buffers", refErr, len(c.Bufs))
	}
	var written uint32
	if err == nil {
		if len(c.Bufs) != len(ref) {
			h.t.Fatalf("chain of %d buffers, reference %d", len(c.Bufs), len(ref))
		}
		for i, b := range c.Bufs {
			r := ref[i]
			if len(b.Data) != len(r.Data) || b.Writable != r.Writable || len(b.Data) > 0 && &b.Data[0] != &r.Data[0] {
				h.t.Fatalf("buffer %d: %d bytes writable=%v, reference %d bytes writable=%v (or elsewhere)", i, len(b.Data), b.Writable, len(r.Data), r.Writable)
			}
			if cap(b.Data) != len(b.Data) {
				h.t.Fatalf("buffer %d lets the device append past its end (cap %d > len %d)", i, cap(b.Data), len(b.Data))
			}
			if b.Writable {
				written += uint32(len(b.Data))
			}
		}
	}
	q.Push(c.Head, written)
	h.usedIdx++
	if got := h.u16(h.used + 2); got != h.usedIdx {
		h.t.Fatalf("used idx %d after %d completions", got, h.usedIdx)
	}
	var e [8]byte
	h.m.ReadAt(e[:], h.used+4+8*uint64((h.usedIdx-1)%q.Size))
	if id, n := binary.LittleEndian.Uint32(e[0:]), binary.LittleEndian.Uint32(e[4:]); id != uint32(c.Head) || n != written {
		h.t.Fatalf("used element (%d, %d), want (%d, %d)", id, n, c.Head, written)
	}
	return true
}

// refError says why the reference walk refused a chain.
type refError string

func (e refError) Error() string { return string(e) }

// walk is the reference: the rules of virtio 1.2 §2.7.5 for a device
// without VIRTIO_F_INDIRECT_DESC, applied with plain arithmetic.
func (h *queueHarness) walk(idx uint16) ([]virtio.Buffer, error) {
	var bufs []virtio.Buffer
	var total uint64
	writable := false
	for n := 0; ; n++ {
		if n >= int(h.q.Size) {
			return nil, refError("longer than the queue")
		}
		if idx >= h.q.Size {
			return nil, refError("index out of range")
		}
		var d [16]byte
		h.m.ReadAt(d[:], h.desc+16*uint64(idx))
		addr, length := binary.LittleEndian.Uint64(d[0:]), uint64(binary.LittleEndian.Uint32(d[8:]))
		flags := binary.LittleEndian.Uint16(d[12:])
		if flags&4 != 0 {
			return nil, refError("indirect")
		}
		if total += length; total > maxChainBytes {
			return nil, refError("too many bytes")
		}
		if !inside(addr, length) {
			return nil, refError("outside memory")
		}
		w := flags&2 != 0
		if writable && !w {
			return nil, refError("readable after writable")
		}
		writable = writable || w
		data, _ := h.m.Slice(addr, length)
		bufs = append(bufs, virtio.Buffer{Data: data, Writable: w})
		if flags&1 == 0 {
			return bufs, nil
		}
		idx = binary.LittleEndian.Uint16(d[14:])
	}
}

// checkInterrupt: a live queue wants an interrupt unless the guest set
// VIRTQ_AVAIL_F_NO_INTERRUPT; a queue that is not live wants none.
func (h *queueHarness) checkInterrupt() {
	want := h.q.Ready && h.u16(h.avail)&1 == 0
	if got := h.q.NeedInterrupt(); got != want {
		h.t.Fatalf("NeedInterrupt = %v with ready %v, avail flags %#x", got, h.q.Ready, h.u16(h.avail))
	}
}
