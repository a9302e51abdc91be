// Package rng is a virtio entropy device: it fills the guest's buffers
// from the host kernel's RNG (getrandom), so the guest kernel's RNG is
// seeded at boot without CPU instructions or jitter. The rate is capped so
// a guest cannot turn it into a way to burn host CPU.
package rng

import (
	"io"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/smolvm/smolvm/internal/virtio"
)

// hostRNG reads the host kernel's RNG with getrandom(2), as crypto/rand
// does on Linux; calling it directly keeps crypto/rand's DRBG out of the
// image runtime (8 KB, stored uncompressed in every image).
type hostRNG struct{}

func (hostRNG) Read(b []byte) (int, error) {
	for {
		n, err := unix.Getrandom(b, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		return n, nil
	}
}

const queueSize = 64

// DefaultRate is the byte rate cap: plenty to seed a kernel, far below
// what would cost the host anything.
const DefaultRate = 64 << 10 // bytes per second

// Device is a virtio-rng device.
type Device struct {
	source io.Reader
	rate   int // bytes per second; the bucket holds one second's worth

	mu        sync.Mutex // guards everything below
	queues    []*virtio.Queue
	interrupt func(int)
	retry     *time.Timer // pending refill while buffers wait
	tokens    float64
	last      time.Time
	now       func() time.Time
}

// New returns an entropy device reading source (the host's getrandom when nil),
// capped at rate bytes per second (DefaultRate when 0).
func New(source io.Reader, rate int) *Device {
	if source == nil {
		source = hostRNG{}
	}
	if rate <= 0 {
		rate = DefaultRate
	}
	return &Device{source: source, rate: rate, tokens: float64(rate), now: time.Now}
}

func (d *Device) Type() uint32                    { return virtio.IDRNG }
func (d *Device) Features() uint64                { return 0 }
func (d *Device) Queues() int                     { return 1 }
func (d *Device) QueueMax() uint16                { return queueSize }
func (d *Device) ReadConfig(off uint64, b []byte) {}

func (d *Device) Activate(features uint64, queues []*virtio.Queue, interrupt func(int)) {
	d.mu.Lock()
	d.queues, d.interrupt = queues, interrupt
	d.last = d.now()
	d.mu.Unlock()
}

func (d *Device) Reset() {
	d.mu.Lock()
	d.queues = nil
	if d.retry != nil {
		d.retry.Stop()
		d.retry = nil
	}
	d.mu.Unlock()
}

// later serves waiting buffers once the budget has refilled: the guest's
// driver waits for its buffer and does not kick again.
func (d *Device) later() {
	d.mu.Lock()
	d.retry = nil
	interrupt := d.interrupt
	d.mu.Unlock()
	if d.Notify(0) && interrupt != nil {
		interrupt(0)
	}
}

// Notify fills available buffers while the rate allows. Buffers left
// when the budget is spent stay queued: the guest asks again later.
func (d *Device) Notify(qi int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if qi != 0 || len(d.queues) == 0 {
		return false
	}
	now := d.now()
	d.tokens = min(float64(d.rate), d.tokens+now.Sub(d.last).Seconds()*float64(d.rate))
	d.last = now
	q := d.queues[0]
	used := false
	for d.tokens >= 1 && q.Pending() {
		c, err := q.Pop()
		if c == nil {
			break
		}
		var n uint32
		if err == nil {
			n = d.fill(c)
		}
		q.Push(c.Head, n)
		used = true
	}
	if q.Pending() && d.retry == nil {
		wait := time.Duration((1 - d.tokens) / float64(d.rate) * float64(time.Second))
		d.retry = time.AfterFunc(max(wait, 10*time.Millisecond), d.later)
	}
	return used
}

// fill writes entropy into the chain's writable buffers, within budget.
func (d *Device) fill(c *virtio.Chain) uint32 {
	var n uint32
	for _, b := range c.Bufs {
		if !b.Writable {
			continue
		}
		want := min(len(b.Data), int(d.tokens))
		if want == 0 {
			break
		}
		got, _ := io.ReadFull(d.source, b.Data[:want])
		d.tokens -= float64(got)
		n += uint32(got)
	}
	return n
}
