// Package blk is a virtio block device over any io.ReaderAt (and
// io.WriterAt when writable): the root filesystem served straight from
// its region of the .vm file, or a --disk. It knows nothing of the
// transport (package virtio wraps it).
//
// Every request is checked: the header must be complete, the status byte
// writable, data buffers in the right direction, and the sector range
// inside the disk; a bad request completes with an error status, never
// touches the backing file out of range, and never stops the device.
package blk

import (
	"encoding/binary"
	"errors"
	"io"
	"sync"

	"github.com/smolvm/smolvm/internal/virtio"
)

// Request types, status values and features (virtio 1.2 §5.2).
const (
	typeIn    = 0
	typeOut   = 1
	typeFlush = 4
	typeGetID = 8

	statusOK     = 0
	statusIOErr  = 1
	statusUnsupp = 2

	featureSegMax   = 1 << 2
	featureRO       = 1 << 5
	featureFlush    = 1 << 9
	featureTopology = 1 << 10

	sectorSize = 512
	headerSize = 16
	idSize     = 20 // VIRTIO_BLK_ID_BYTES
	queueSize  = 128

	// SegMax is how many data buffers a request may have. Without it
	// Linux sends one buffer per request, and page-cache pages are
	// rarely contiguous: reading a 2 MiB program took some 500
	// requests, each a round of block-layer and virtqueue work that is
	// emulated on some nested hosts. A request takes SegMax+2
	// descriptors (header and status too), which must fit the queue,
	// as this device offers no indirect descriptors.
	SegMax = 64
	// OptIOSize is the optimal I/O size offered as topology; Linux
	// reads ahead twice that (512 KiB instead of its default 128 KiB),
	// so a program's pages come in a few large requests rather than
	// many small ones, each of which is guest kernel work.
	OptIOSize = 256 << 10
)

// Backend is the disk's storage.
type Backend interface {
	io.ReaderAt
}

// Writable backends also write and sync (an *os.File does).
type Writable interface {
	io.WriterAt
	Sync() error
}

// Device is a virtio-blk device.
type Device struct {
	backend  Backend
	size     int64 // bytes; a multiple of the sector size is served
	readOnly bool
	id       string

	mu     sync.Mutex // serialises request processing and activation
	queues []*virtio.Queue
}

// New returns a block device of size bytes over backend. A backend that
// is not Writable is always read-only.
func New(backend Backend, size int64, readOnly bool, id string) *Device {
	if _, ok := backend.(Writable); !ok {
		readOnly = true
	}
	return &Device{backend: backend, size: size, readOnly: readOnly, id: id}
}

func (d *Device) Type() uint32     { return virtio.IDBlock }
func (d *Device) Queues() int      { return 1 }
func (d *Device) QueueMax() uint16 { return queueSize }

func (d *Device) Features() uint64 {
	f := uint64(featureFlush | featureSegMax | featureTopology)
	if d.readOnly {
		f |= featureRO
	}
	return f
}

// ReadConfig serves struct virtio_blk_config (virtio 1.2 §5.2.4) up to
// the topology fields: capacity in sectors, seg_max, and opt_io_size in
// sectors. Fields of features not offered read as zero.
func (d *Device) ReadConfig(off uint64, b []byte) {
	var cfg [32]byte
	binary.LittleEndian.PutUint64(cfg[0:], uint64(d.size/sectorSize))
	binary.LittleEndian.PutUint32(cfg[12:], SegMax)
	binary.LittleEndian.PutUint32(cfg[28:], OptIOSize/sectorSize)
	if off < uint64(len(cfg)) {
		copy(b, cfg[off:])
	}
}

func (d *Device) Activate(features uint64, queues []*virtio.Queue, interrupt func(int)) {
	d.mu.Lock()
	d.queues = queues
	d.mu.Unlock()
}

func (d *Device) Reset() {
	d.mu.Lock()
	d.queues = nil
	d.mu.Unlock()
}

// Notify processes every available request.
func (d *Device) Notify(qi int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if qi != 0 || len(d.queues) == 0 {
		return false
	}
	q := d.queues[0]
	used := false
	for {
		c, err := q.Pop()
		if c == nil {
			return used
		}
		var n uint32
		if err == nil {
			n = d.handle(c)
		}
		q.Push(c.Head, n)
		used = true
	}
}

var errRequest = errors.New("bad request")

// handle serves one request and returns the bytes written to the guest
// (data plus the status byte).
func (d *Device) handle(c *virtio.Chain) uint32 {
	// The last buffer must be writable and end with the status byte.
	if len(c.Bufs) == 0 {
		return 0
	}
	last := c.Bufs[len(c.Bufs)-1]
	if !last.Writable || len(last.Data) == 0 {
		return 0
	}
	statusByte := &last.Data[len(last.Data)-1]
	hdr := c.Readable(headerSize)
	if len(hdr) < headerSize {
		*statusByte = statusIOErr
		return 1
	}
	typ := binary.LittleEndian.Uint32(hdr[0:])
	sector := binary.LittleEndian.Uint64(hdr[8:])
	// Data buffers: everything after the header, except the status byte.
	data := dataBuffers(c, headerSize)
	var written uint32
	status := byte(statusOK)
	var err error
	switch typ {
	case typeIn:
		written, err = d.read(sector, data)
	case typeOut:
		err = d.write(sector, data)
	case typeFlush:
		err = d.flush()
	case typeGetID:
		written, err = d.getID(data)
	default:
		status = statusUnsupp
	}
	if err != nil {
		status = statusIOErr
	}
	*statusByte = status
	return written + 1
}

// dataBuffers returns the buffers after the first skip readable bytes,
// with the final status byte cut off.
func dataBuffers(c *virtio.Chain, skip int) []virtio.Buffer {
	var out []virtio.Buffer
	for i, b := range c.Bufs {
		data := b.Data
		if i == len(c.Bufs)-1 {
			data = data[:len(data)-1]
		}
		if !b.Writable && skip > 0 {
			n := min(skip, len(data))
			data, skip = data[n:], skip-n
		}
		if len(data) > 0 {
			out = append(out, virtio.Buffer{Data: data, Writable: b.Writable})
		}
	}
	return out
}

// span checks a request of n bytes at sector against the disk size.
func (d *Device) span(sector uint64, n int) (int64, bool) {
	if sector > uint64(d.size)/sectorSize {
		return 0, false
	}
	off := int64(sector) * sectorSize
	return off, int64(n) <= d.size-off
}

func total(bufs []virtio.Buffer) int {
	n := 0
	for _, b := range bufs {
		n += len(b.Data)
	}
	return n
}

func (d *Device) read(sector uint64, bufs []virtio.Buffer) (uint32, error) {
	off, ok := d.span(sector, total(bufs))
	if !ok {
		return 0, errRequest
	}
	var n uint32
	for _, b := range bufs {
		if !b.Writable {
			return n, errRequest
		}
		m, err := d.backend.ReadAt(b.Data, off)
		n += uint32(m)
		if err != nil && !(errors.Is(err, io.EOF) && m == len(b.Data)) {
			return n, err
		}
		off += int64(m)
	}
	return n, nil
}

func (d *Device) write(sector uint64, bufs []virtio.Buffer) error {
	w, ok := d.backend.(Writable)
	if d.readOnly || !ok {
		return errRequest
	}
	off, ok := d.span(sector, total(bufs))
	if !ok {
		return errRequest
	}
	// Check every buffer before writing any: a refused request must
	// leave the disk as it was.
	for _, b := range bufs {
		if b.Writable {
			return errRequest
		}
	}
	for _, b := range bufs {
		if _, err := w.WriteAt(b.Data, off); err != nil {
			return err
		}
		off += int64(len(b.Data))
	}
	return nil
}

// flush makes every completed write durable before it completes.
func (d *Device) flush() error {
	if w, ok := d.backend.(Writable); ok && !d.readOnly {
		return w.Sync()
	}
	return nil
}

func (d *Device) getID(bufs []virtio.Buffer) (uint32, error) {
	var id [idSize]byte
	copy(id[:], d.id)
	n := 0
	for _, b := range bufs {
		if !b.Writable {
			return 0, errRequest
		}
		n += copy(b.Data, id[n:])
	}
	return uint32(n), nil
}
