package legacy

import (
	"io"
	"sync"
)

// 16550 register offsets and bits (see the National Semiconductor
// PC16550D data sheet; behaviour follows rust-vmm's vm-superio).
const (
	regData = 0 // RBR on read, THR on write; DLL when DLAB is set
	regIER  = 1 // DLM when DLAB is set
	regIIR  = 2 // FCR on write
	regLCR  = 3
	regMCR  = 4
	regLSR  = 5
	regMSR  = 6
	regSCR  = 7

	ierRDA  = 0x01 // received data available
	ierTHRE = 0x02 // transmitter holding register empty
	ierMask = 0x0f

	iirNone     = 0x01
	iirTHRE     = 0x02
	iirRDA      = 0x04
	iirFIFOBits = 0xc0

	fcrEnable  = 0x01
	fcrClearRX = 0x02

	lcrDLAB = 0x80

	mcrDTR      = 0x01
	mcrRTS      = 0x02
	mcrOUT1     = 0x04
	mcrOUT2     = 0x08
	mcrLoopback = 0x10

	lsrDR   = 0x01
	lsrTHRE = 0x20
	lsrTEMT = 0x40

	msrCTS = 0x10
	msrDSR = 0x20
	msrRI  = 0x40
	msrDCD = 0x80

	// rxCap bounds buffered input so a host that sends faster than the
	// guest reads cannot grow our memory without limit.
	rxCap = 64 << 10
)

// Serial is a 16550A UART. Transmitted bytes go to an io.Writer at once
// (the transmitter is always empty, so the guest never waits on us);
// received bytes come from Enqueue.
type Serial struct {
	irq func() // raise an edge on the UART's interrupt line

	mu                           sync.Mutex // guards everything below and serialises writes to out
	out                          io.Writer
	ier, lcr, mcr, scr, dll, dlm byte
	fifo                         bool
	threPending                  bool // a THRE interrupt is owed to the guest
	rx                           []byte
	outErr                       error
}

// NewSerial returns a UART writing its output to out and raising
// interrupts with irq.
func NewSerial(out io.Writer, irq func()) *Serial {
	return &Serial{out: out, irq: irq, dll: 12} // 9600 baud divisor, as at reset
}

// OutputError is the first error writing the guest's output, if any (for
// example a closed pipe); later output is dropped rather than stalling
// the guest.
func (s *Serial) OutputError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.outErr
}

// Enqueue adds bytes to the receive buffer and reports how many it took;
// fewer than len(b) means the buffer is full and the caller should retry.
func (s *Serial) Enqueue(b []byte) int {
	s.mu.Lock()
	room := rxCap - len(s.rx)
	if room > len(b) {
		room = len(b)
	}
	wasEmpty := len(s.rx) == 0
	s.rx = append(s.rx, b[:room]...)
	raise := wasEmpty && room > 0 && s.ier&ierRDA != 0
	s.mu.Unlock()
	if raise {
		s.irq()
	}
	return room
}

// PortRead handles an IN from the UART's register at offset off.
func (s *Serial) PortRead(off uint16, data []byte) {
	s.mu.Lock()
	v, raise := s.read(off)
	s.mu.Unlock()
	for i := range data {
		data[i] = 0
	}
	if len(data) > 0 {
		data[0] = v
	}
	if raise {
		s.irq()
	}
}

// PortWrite handles an OUT to the UART's register at offset off.
func (s *Serial) PortWrite(off uint16, data []byte) {
	if len(data) == 0 {
		return
	}
	s.mu.Lock()
	raise := s.write(off, data[0])
	s.mu.Unlock()
	if raise {
		s.irq()
	}
}

func (s *Serial) read(off uint16) (v byte, raise bool) {
	switch off {
	case regData:
		if s.lcr&lcrDLAB != 0 {
			return s.dll, false
		}
		if len(s.rx) == 0 {
			return 0, false
		}
		v = s.rx[0]
		s.rx = s.rx[1:]
		if len(s.rx) == 0 {
			s.rx = nil // let the backing array go
		}
		// More data still waiting: the guest needs another edge.
		return v, len(s.rx) > 0 && s.ier&ierRDA != 0
	case regIER:
		if s.lcr&lcrDLAB != 0 {
			return s.dlm, false
		}
		return s.ier, false
	case regIIR:
		v = s.iir()
		if v&^iirFIFOBits == iirTHRE {
			s.threPending = false // reading IIR acknowledges THRE
		}
		return v, false
	case regLCR:
		return s.lcr, false
	case regMCR:
		return s.mcr, false
	case regLSR:
		v = lsrTHRE | lsrTEMT
		if len(s.rx) > 0 {
			v |= lsrDR
		}
		return v, false
	case regMSR:
		if s.mcr&mcrLoopback != 0 {
			// In loopback the modem outputs feed the inputs; Linux's
			// autoconfig checks this to find the UART.
			if s.mcr&mcrRTS != 0 {
				v |= msrCTS
			}
			if s.mcr&mcrDTR != 0 {
				v |= msrDSR
			}
			if s.mcr&mcrOUT1 != 0 {
				v |= msrRI
			}
			if s.mcr&mcrOUT2 != 0 {
				v |= msrDCD
			}
			return v, false
		}
		return msrDCD | msrDSR | msrCTS, false
	case regSCR:
		return s.scr, false
	}
	return 0, false
}

// iir reports the highest-priority pending interrupt.
func (s *Serial) iir() byte {
	var fifo byte
	if s.fifo {
		fifo = iirFIFOBits
	}
	switch {
	case s.ier&ierRDA != 0 && len(s.rx) > 0:
		return iirRDA | fifo
	case s.ier&ierTHRE != 0 && s.threPending:
		return iirTHRE | fifo
	}
	return iirNone | fifo
}

func (s *Serial) write(off uint16, v byte) (raise bool) {
	switch off {
	case regData:
		if s.lcr&lcrDLAB != 0 {
			s.dll = v
			return false
		}
		if s.mcr&mcrLoopback != 0 {
			if len(s.rx) < rxCap {
				s.rx = append(s.rx, v)
			}
		} else if s.outErr == nil {
			if _, err := s.out.Write([]byte{v}); err != nil {
				s.outErr = err
			}
		}
		s.threPending = true
		return s.ier&ierTHRE != 0 || (s.mcr&mcrLoopback != 0 && s.ier&ierRDA != 0)
	case regIER:
		if s.lcr&lcrDLAB != 0 {
			s.dlm = v
			return false
		}
		old := s.ier
		s.ier = v & ierMask
		if s.ier&ierTHRE != 0 && old&ierTHRE == 0 {
			// Enabling THRE with an empty transmitter interrupts at
			// once, as real hardware does; the 8250 driver relies on it.
			s.threPending = true
			return true
		}
		return s.ier&ierRDA != 0 && old&ierRDA == 0 && len(s.rx) > 0
	case regIIR:
		s.fifo = v&fcrEnable != 0
		if v&fcrClearRX != 0 {
			s.rx = nil
		}
	case regLCR:
		s.lcr = v
	case regMCR:
		s.mcr = v
	case regSCR:
		s.scr = v
	}
	return false
}
