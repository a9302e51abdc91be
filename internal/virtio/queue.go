package virtio

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Memory is guest memory as the queue sees it (memory.Memory satisfies it).
type Memory interface {
	Slice(addr, n uint64) ([]byte, error)
}

// Descriptor flags (virtio 1.2 §2.7.5).
const (
	descFNext     = 1
	descFWrite    = 2
	descFIndirect = 4
)

// Ring flags.
const availFNoInterrupt = 1

// MaxQueueSize is the largest queue any device offers.
const MaxQueueSize = 256

// maxChainBytes caps the bytes one descriptor chain may describe, so a
// guest cannot make a device allocate or copy without limit.
const maxChainBytes = 16 << 20

// ErrBadChain is returned (wrapped) for a descriptor chain the device
// must not process.
var ErrBadChain = errors.New("malformed descriptor chain")

// Buffer is one guest buffer of a chain: Data aliases guest memory.
type Buffer struct {
	Data     []byte
	Writable bool // device-writable (the guest reads it back)
}

// Chain is a popped descriptor chain: device-readable buffers first,
// then device-writable ones (the order the spec requires).
type Chain struct {
	Head uint16
	Bufs []Buffer
}

// Readable returns the concatenated device-readable bytes, up to max.
func (c *Chain) Readable(max int) []byte {
	var out []byte
	for _, b := range c.Bufs {
		if b.Writable || len(out) >= max {
			break
		}
		n := min(len(b.Data), max-len(out))
		out = append(out, b.Data[:n]...)
	}
	return out
}

// Queue is one split virtqueue. The guest sets its size and addresses
// through the transport; Ready makes it live after Validate.
type Queue struct {
	Size              uint16 // set by the driver, a power of two <= max
	Desc, Avail, Used uint64 // guest-physical ring addresses
	Ready             bool
	lastAvail         uint16 // next avail ring entry to take
	usedIdx           uint16 // next used ring entry to fill
	mem               Memory
}

// Reset returns the queue to its state before driver set-up.
func (q *Queue) Reset() { *q = Queue{} }

// Validate checks the driver's set-up against guest memory and binds the
// queue to mem. Called when the driver sets QueueReady.
func (q *Queue) Validate(mem Memory, max uint16) error {
	if q.Size == 0 || q.Size > max || q.Size&(q.Size-1) != 0 {
		return fmt.Errorf("queue size %d: must be a power of two, 1 to %d", q.Size, max)
	}
	n := uint64(q.Size)
	for _, r := range []struct {
		name       string
		addr, size uint64
		align      uint64
	}{
		{"descriptor table", q.Desc, 16 * n, 16},
		{"available ring", q.Avail, 6 + 2*n, 2},
		{"used ring", q.Used, 6 + 8*n, 4},
	} {
		if r.addr%r.align != 0 {
			return fmt.Errorf("%s at %#x is not %d-byte aligned", r.name, r.addr, r.align)
		}
		if _, err := mem.Slice(r.addr, r.size); err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
	}
	q.mem = mem
	return nil
}

var le = binary.LittleEndian

// ring returns a ring's bytes (validated in Validate, so Slice succeeds),
// or nil for a queue that was never validated or has been reset: a
// device may complete a request late, after the driver reset it.
func (q *Queue) ring(addr, size uint64) []byte {
	if q.mem == nil {
		return nil
	}
	b, err := q.mem.Slice(addr, size)
	if err != nil {
		return nil
	}
	return b
}

// availIdx reads avail->idx, written by the guest at any time.
func (q *Queue) availIdx() uint16 {
	r := q.ring(q.Avail, 4)
	if r == nil {
		return q.lastAvail
	}
	// A torn or stale read is harmless: any index is taken modulo the
	// size and every descriptor is checked.
	return le.Uint16(r[2:4])
}

// Pending reports whether the guest has made chains available.
func (q *Queue) Pending() bool {
	return q.Ready && q.mem != nil && q.availIdx() != q.lastAvail
}

// Pop takes the next available chain. It returns (nil, nil) when there
// is none. A malformed chain is consumed and returned with an error
// wrapping ErrBadChain; the device completes it with zero bytes written.
func (q *Queue) Pop() (*Chain, error) {
	if !q.Pending() {
		return nil, nil
	}
	avail := q.ring(q.Avail, 4+2*uint64(q.Size))
	head := le.Uint16(avail[4+2*(q.lastAvail%q.Size):])
	q.lastAvail++
	c := &Chain{Head: head}
	if err := q.walk(c); err != nil {
		return c, err
	}
	return c, nil
}

// walk follows a chain from c.Head, checking every descriptor.
func (q *Queue) walk(c *Chain) error {
	table := q.ring(q.Desc, 16*uint64(q.Size))
	idx := c.Head
	total := uint64(0)
	seenWritable := false
	// A chain longer than the queue must revisit a descriptor: a loop.
	for n := 0; ; n++ {
		if n >= int(q.Size) {
			return fmt.Errorf("%w: longer than the queue (a loop?)", ErrBadChain)
		}
		if idx >= q.Size {
			return fmt.Errorf("%w: descriptor index %d out of range (queue size %d)", ErrBadChain, idx, q.Size)
		}
		d := table[16*uint64(idx):]
		addr, length := le.Uint64(d[0:]), uint64(le.Uint32(d[8:]))
		flags, next := le.Uint16(d[12:]), le.Uint16(d[14:])
		if flags&descFIndirect != 0 {
			return fmt.Errorf("%w: indirect descriptor (feature not offered)", ErrBadChain)
		}
		if total += length; total > maxChainBytes {
			return fmt.Errorf("%w: more than %d bytes", ErrBadChain, maxChainBytes)
		}
		data, err := q.mem.Slice(addr, length)
		if err != nil {
			return fmt.Errorf("%w: buffer %#x+%#x outside guest memory", ErrBadChain, addr, length)
		}
		w := flags&descFWrite != 0
		if !w && seenWritable {
			return fmt.Errorf("%w: device-readable buffer after a writable one", ErrBadChain)
		}
		seenWritable = seenWritable || w
		c.Bufs = append(c.Bufs, Buffer{Data: data, Writable: w})
		if flags&descFNext == 0 {
			return nil
		}
		idx = next
	}
}

// Push returns a chain to the guest with the number of bytes written.
func (q *Queue) Push(head uint16, written uint32) {
	used := q.ring(q.Used, 4+8*uint64(q.Size))
	if used == nil {
		return
	}
	e := used[4+8*uint64(q.usedIdx%q.Size):]
	le.PutUint32(e[0:], uint32(head))
	le.PutUint32(e[4:], written)
	q.usedIdx++
	// The element must be visible before the index that publishes it:
	// one atomic store of the ring's first word (flags, which the device
	// owns and leaves 0, and idx) orders it after the element.
	publishUsed(used, q.usedIdx)
}

// NeedInterrupt reports whether the guest wants an interrupt for used
// buffers (it may suppress them with VIRTQ_AVAIL_F_NO_INTERRUPT). A queue
// that is not live wants none.
func (q *Queue) NeedInterrupt() bool {
	if !q.Ready || q.mem == nil {
		return false
	}
	r := q.ring(q.Avail, 2)
	return r == nil || le.Uint16(r)&availFNoInterrupt == 0
}
