// Package console is a virtio console device with several ports: the
// program's stdin, stdout and stderr travel over it (ports 0, 1 and 2,
// /dev/vport0p0..2 in the guest, matching their file descriptors).
//
// Why ports and not hvc0: Linux's hvc console driver writes with
// interrupts off and spins until the host has taken each buffer, so a
// host whose stdout is not being read (a full pipe) would freeze the
// guest. A generic port instead puts the writing process to sleep when
// its queue is full; the guest keeps running, and the process resumes
// when the host has written the data. So output is never dropped and the
// vCPU never waits for host I/O.
//
// Each output port has a writer goroutine that copies a chain out of
// guest memory, writes it to the host (blocking as long as the host
// reader lets it), and only then returns the chain to the guest: the
// guest's own queue is the buffer, and no host-side copy grows. Each
// input port has a reader goroutine that reads the host side and fills
// the guest's receive buffers; end of input is told to the guest by
// closing the port (its reads then return 0).
//
// The control queues follow virtio 1.2 §5.3.6.2: the driver announces
// DEVICE_READY, the device adds each port, the driver answers PORT_READY,
// the device names the port and opens it from the host side.
package console

import (
	"encoding/binary"
	"errors"
	"io"
	"sync"

	"github.com/smolvm/smolvm/internal/virtio"
)

// FeatureMultiport (VIRTIO_CONSOLE_F_MULTIPORT) enables ports and the
// control queues.
const FeatureMultiport = 1 << 1

// Control events (virtio 1.2 §5.3.6.2.1).
const (
	evDeviceReady = 0
	evPortAdd     = 1
	evPortRemove  = 2
	evPortReady   = 3
	evConsolePort = 4
	evResize      = 5
	evPortOpen    = 6
	evPortName    = 7
)

const (
	// queueSize is small on purpose: Linux fills every receive queue
	// (one per port, and the control queue) with page-sized buffers
	// when it probes the device, whatever the port is for. At 256 that
	// was a thousand allocations, 4 MiB of guest memory and a second of
	// boot where guest kernel code is emulated; 32 buffers still keep
	// 32 writes of up to 32 KiB each in flight on an output port.
	queueSize = 32
	// ctrlRX and ctrlTX are the control queues (device→driver,
	// driver→device); port p > 0 uses queues 2p+2 (receive) and 2p+3.
	ctrlRX = 2
	ctrlTX = 3
	// maxCtrlBacklog bounds control messages waiting for receive
	// buffers: a driver that never posts any cannot make us queue more.
	maxCtrlBacklog = 64
	// readChunk is how much host input is read at a time.
	readChunk = 4096
	// MaxPorts bounds the ports a device may have.
	MaxPorts = 16
)

// Port is one port as configured by the VMM.
type Port struct {
	// Name is what the guest reads from /sys/class/virtio-ports/*/name.
	Name string
	// Out receives what the guest writes (an output port); nil discards.
	Out io.Writer
	// In is read for what the guest reads (an input port); nil means the
	// host never opens the port and guest reads see end of file.
	In io.Reader
}

// Device is a multiport virtio console.
type Device struct {
	ports []*port

	mu        sync.Mutex // guards everything below and queue access
	cond      *sync.Cond // signalled on kicks, resets, completions, close
	queues    []*virtio.Queue
	interrupt func(int)
	epoch     uint64 // bumped on reset: completions of an older epoch are dropped
	ctrl      [][]byte
	closed    bool
	started   bool
	writeErr  error
}

type port struct {
	id int
	Port
	ready    bool // driver said PORT_READY
	open     bool // a guest process has the port open (PORT_OPEN from the driver)
	inEOF    bool // host input ended (port closed from the host side)
	inBuf    []byte
	draining bool // Drain waits for this port's writer to go idle
	busy     bool // the writer holds a chain it has not returned yet
}

// New returns a console with the given ports (port i is /dev/vport<N>p<i>).
func New(ports []Port) *Device {
	if len(ports) > MaxPorts {
		ports = ports[:MaxPorts]
	}
	d := &Device{}
	d.cond = sync.NewCond(&d.mu)
	for i, p := range ports {
		d.ports = append(d.ports, &port{id: i, Port: p})
	}
	return d
}

func (d *Device) Type() uint32     { return virtio.IDConsole }
func (d *Device) Features() uint64 { return FeatureMultiport }
func (d *Device) Queues() int      { return 2 * (len(d.ports) + 1) }
func (d *Device) QueueMax() uint16 { return queueSize }

// ReadConfig serves struct virtio_console_config: cols, rows (0: no
// size), max_nr_ports, emerg_wr.
func (d *Device) ReadConfig(off uint64, b []byte) {
	var cfg [12]byte
	binary.LittleEndian.PutUint32(cfg[4:], uint32(len(d.ports)))
	if off < uint64(len(cfg)) {
		copy(b, cfg[off:])
	}
}

func rxQueue(p int) int {
	if p == 0 {
		return 0
	}
	return 2*p + 2
}

func txQueue(p int) int { return rxQueue(p) + 1 }

// portOf maps a queue index to its port and direction.
func (d *Device) portOf(q int) (p *port, tx bool) {
	switch {
	case q == 0 || q == 1:
		return d.ports[0], q == 1
	case q >= 4 && q/2-1 < len(d.ports):
		return d.ports[q/2-1], q%2 == 1
	}
	return nil, false
}

// Activate starts the port goroutines the first time the driver is ready.
func (d *Device) Activate(features uint64, queues []*virtio.Queue, interrupt func(int)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.queues, d.interrupt = queues, interrupt
	if d.started || d.closed {
		d.cond.Broadcast()
		return
	}
	d.started = true
	for _, p := range d.ports {
		if p.Out != nil {
			go d.writer(p)
		}
		if p.In != nil {
			go d.reader(p)
		}
	}
}

// Reset drops the queues; goroutines stay and wait for the next driver.
func (d *Device) Reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.resetLocked()
}

func (d *Device) resetLocked() {
	d.queues, d.interrupt = nil, nil
	d.ctrl = nil
	d.epoch++
	for _, p := range d.ports {
		p.ready, p.open = false, false
	}
	d.cond.Broadcast()
}

// Close stops the device for good: no goroutine touches guest memory
// after it returns. A writer blocked in a host write finishes that write
// and then exits.
func (d *Device) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.resetLocked()
	d.closed = true
}

// WriteError is the first error writing to a host output, if any (the
// data of that chain and of later ones on the port was dropped).
func (d *Device) WriteError() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.writeErr
}

// Drain waits until every chain the guest has made available on the
// output ports has been written to the host. The VMM calls it after the
// guest reported the program's exit, before exiting itself, so output
// the program wrote is never lost.
func (d *Device) Drain() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range d.ports {
		if p.Out == nil {
			continue
		}
		p.draining = true
		d.cond.Broadcast()
		for !d.closed && d.queues != nil && (p.busy || d.queues[txQueue(p.id)].Pending()) {
			d.cond.Wait()
		}
		p.draining = false
	}
}

// Notify handles a kick. Control messages are handled at once (the
// driver spins waiting for them); data queues wake their goroutines.
func (d *Device) Notify(q int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.queues == nil || q < 0 || q >= len(d.queues) {
		return false
	}
	switch q {
	case ctrlTX:
		return d.handleControl()
	case ctrlRX:
		return d.flushControl()
	}
	d.cond.Broadcast()
	return false
}

// handleControl consumes the driver's control messages.
func (d *Device) handleControl() bool {
	q := d.queues[ctrlTX]
	used := false
	for n := 0; n < queueSize; n++ {
		c, err := q.Pop()
		if c == nil {
			break
		}
		used = true
		q.Push(c.Head, 0)
		if err != nil {
			continue
		}
		msg := c.Readable(8)
		if len(msg) < 8 {
			continue
		}
		id := binary.LittleEndian.Uint32(msg[0:])
		event := binary.LittleEndian.Uint16(msg[4:])
		value := binary.LittleEndian.Uint16(msg[6:])
		switch event {
		case evDeviceReady:
			if value == 1 {
				for _, p := range d.ports {
					d.sendControl(uint32(p.id), evPortAdd, 0, "")
				}
			}
		case evPortReady:
			if id < uint32(len(d.ports)) && value == 1 {
				p := d.ports[id]
				p.ready = true
				d.sendControl(id, evPortName, 0, p.Name)
				if p.Out != nil || (p.In != nil && !p.inEOF) {
					d.sendControl(id, evPortOpen, 1, "")
				}
				d.cond.Broadcast()
			}
		case evPortOpen:
			// A guest process opened (1) or closed (0) the port.
			// Linux drops input that arrives while the port is
			// closed, so input waits for this.
			if id < uint32(len(d.ports)) {
				d.ports[id].open = value == 1
				d.cond.Broadcast()
			}
		}
		// Anything else needs no answer.
	}
	if d.flushControl() {
		d.raise(ctrlRX)
	}
	return used
}

// sendControl queues a control message for the driver.
func (d *Device) sendControl(id uint32, event, value uint16, name string) {
	if len(d.ctrl) >= maxCtrlBacklog {
		return
	}
	m := make([]byte, 8, 8+len(name))
	binary.LittleEndian.PutUint32(m[0:], id)
	binary.LittleEndian.PutUint16(m[4:], event)
	binary.LittleEndian.PutUint16(m[6:], value)
	d.ctrl = append(d.ctrl, append(m, name...))
}

// flushControl delivers queued control messages into the driver's
// receive buffers and reports whether it used any.
func (d *Device) flushControl() bool {
	q := d.queues[ctrlRX]
	used := false
	for len(d.ctrl) > 0 {
		c, err := q.Pop()
		if c == nil {
			break
		}
		used = true
		if err != nil {
			q.Push(c.Head, 0)
			continue
		}
		q.Push(c.Head, uint32(fill(c, d.ctrl[0])))
		d.ctrl = d.ctrl[1:]
	}
	return used
}

// fill copies data into the chain's writable buffers.
func fill(c *virtio.Chain, data []byte) int {
	n := 0
	for _, b := range c.Bufs {
		if b.Writable && n < len(data) {
			n += copy(b.Data, data[n:])
		}
	}
	return n
}

// raise interrupts the guest for queue q; called with d.mu held, it
// runs the transport's interrupt (which takes the transport's lock,
// never ours) without it.
func (d *Device) raise(q int) {
	if f := d.interrupt; f != nil {
		d.mu.Unlock()
		f(q)
		d.mu.Lock()
	}
}

// writer moves guest output on port p to the host.
func (d *Device) writer(p *port) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for !d.closed {
		var q *virtio.Queue
		if d.queues != nil {
			q = d.queues[txQueue(p.id)]
		}
		if q == nil || !q.Pending() {
			if p.draining {
				d.cond.Broadcast() // idle: wake Drain
			}
			d.cond.Wait()
			continue
		}
		c, err := q.Pop()
		if c == nil {
			continue
		}
		var data []byte
		if err == nil {
			data = c.Readable(1 << 20)
		}
		// Write outside the lock, from a copy: a reset or close may
		// happen meanwhile, and guest memory must not be touched then.
		epoch := d.epoch
		p.busy = true
		failed := d.writeErr != nil
		d.mu.Unlock()
		if len(data) > 0 && !failed {
			_, err = p.Out.Write(data)
		} else {
			err = nil
		}
		d.mu.Lock()
		p.busy = false
		if err != nil && d.writeErr == nil {
			d.writeErr = err
		}
		if d.closed || d.epoch != epoch || d.queues == nil {
			continue
		}
		q.Push(c.Head, 0)
		d.raise(txQueue(p.id))
	}
}

// reader moves host input to port p in the guest.
func (d *Device) reader(p *port) {
	buf := make([]byte, readChunk)
	for {
		n, err := p.In.Read(buf)
		d.mu.Lock()
		p.inBuf = append(p.inBuf, buf[:n]...)
		for !d.closed && len(p.inBuf) > 0 {
			if !d.deliver(p) {
				d.cond.Wait()
			}
		}
		if err != nil || d.closed {
			if !d.closed && !errors.Is(err, io.ErrNoProgress) {
				p.inEOF = true
				d.closeInput(p)
			}
			d.mu.Unlock()
			return
		}
		d.mu.Unlock()
	}
}

// deliver puts pending input into the guest's receive buffers and
// reports whether it made progress.
func (d *Device) deliver(p *port) bool {
	// Input is delivered only while a guest process has the port open:
	// the Linux driver discards what arrives on a closed port.
	if d.queues == nil || !p.open {
		return false
	}
	q := d.queues[rxQueue(p.id)]
	c, err := q.Pop()
	if c == nil {
		return false
	}
	n := 0
	if err == nil {
		n = fill(c, p.inBuf)
		p.inBuf = p.inBuf[n:]
	}
	q.Push(c.Head, uint32(n))
	d.raise(rxQueue(p.id))
	return true
}

// closeInput tells the driver the host closed port p (guest reads then
// return end of file), waiting for the port to be ready if need be.
func (d *Device) closeInput(p *port) {
	for !d.closed && (d.queues == nil || !p.ready) {
		d.cond.Wait()
	}
	if d.closed {
		return
	}
	d.sendControl(uint32(p.id), evPortOpen, 0, "")
	if d.flushControl() {
		d.raise(ctrlRX)
	}
}
