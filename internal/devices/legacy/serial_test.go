package legacy

import (
	"bytes"
	"testing"
)

func newTestSerial() (*Serial, *bytes.Buffer, *int) {
	var out bytes.Buffer
	irqs := 0
	return NewSerial(&out, func() { irqs++ }), &out, &irqs
}

func read(s *Serial, off uint16) byte {
	b := []byte{0xaa}
	s.PortRead(off, b)
	return b[0]
}

func write(s *Serial, off uint16, v byte) { s.PortWrite(off, []byte{v}) }

func TestSerialTransmitAndTHREInterrupt(t *testing.T) {
	s, out, irqs := newTestSerial()
	if got := read(s, regIIR); got&0x0f != iirNone {
		t.Fatalf("IIR at reset = %#x, want no interrupt", got)
	}
	write(s, regIER, ierTHRE)
	if *irqs != 1 {
		t.Fatalf("enabling THRE raised %d interrupts, want 1 (the 8250 driver relies on it)", *irqs)
	}
	if got := read(s, regIIR); got&0x0f != iirTHRE {
		t.Fatalf("IIR = %#x, want THRE", got)
	}
	if got := read(s, regIIR); got&0x0f != iirNone {
		t.Fatalf("IIR after acknowledging = %#x, want none", got)
	}
	for _, c := range []byte("ok\n") {
		write(s, regData, c)
	}
	if out.String() != "ok\n" {
		t.Errorf("output %q", out.String())
	}
	if got := read(s, regLSR); got&(lsrTHRE|lsrTEMT) != lsrTHRE|lsrTEMT {
		t.Errorf("LSR = %#x, transmitter must always be empty", got)
	}
}

func TestSerialReceive(t *testing.T) {
	s, _, irqs := newTestSerial()
	write(s, regIER, ierRDA)
	if n := s.Enqueue([]byte{15, 1}); n != 2 {
		t.Fatalf("Enqueue took %d", n)
	}
	if *irqs != 1 {
		t.Fatalf("%d interrupts, want 1", *irqs)
	}
	if read(s, regLSR)&lsrDR == 0 || read(s, regIIR)&0x0f != iirRDA {
		t.Fatal("data not signalled")
	}
	if a, b := read(s, regData), read(s, regData); a != 15 || b != 1 {
		t.Fatalf("read %d %d", a, b)
	}
	if read(s, regLSR)&lsrDR != 0 {
		t.Fatal("DR still set on an empty FIFO")
	}
}

func TestSerialReceiveCapped(t *testing.T) {
	s, _, _ := newTestSerial()
	big := make([]byte, rxCap+100)
	if n := s.Enqueue(big); n != rxCap {
		t.Fatalf("Enqueue took %d, want the cap %d", n, rxCap)
	}
	if n := s.Enqueue([]byte{1}); n != 0 {
		t.Fatalf("full buffer took %d more", n)
	}
}

func TestSerialLoopbackAndDivisor(t *testing.T) {
	s, out, _ := newTestSerial()
	write(s, regMCR, mcrLoopback|mcrOUT2|mcrRTS)
	if got := read(s, regMSR); got != msrDCD|msrCTS {
		t.Errorf("MSR in loopback = %#x, want DCD|CTS", got)
	}
	write(s, regData, 'x')
	if out.Len() != 0 || read(s, regData) != 'x' {
		t.Error("loopback byte went out instead of back in")
	}
	write(s, regLCR, lcrDLAB)
	write(s, regData, 1)
	write(s, regIER, 2)
	if read(s, regData) != 1 || read(s, regIER) != 2 {
		t.Error("divisor latch not kept")
	}
}

// FuzzSerial drives the UART with arbitrary guest register accesses: it
// must never panic, never buffer more than rxCap, and only emit bytes the
// guest wrote to THR.
func FuzzSerial(f *testing.F) {
	f.Add([]byte{0x01, 0x02, 0x00, 'a', 0x82, 0x00})
	f.Add([]byte{0x04, 0x10, 0x00, 'z', 0x80, 0x00, 0x85, 0x00, 0x02, 0x07})
	f.Fuzz(func(t *testing.T, ops []byte) {
		s, out, _ := newTestSerial()
		wrote := 0
		for i := 0; i+1 < len(ops); i += 2 {
			off := uint16(ops[i] & 0x7)
			switch {
			case ops[i]&0x80 != 0:
				read(s, off)
			case ops[i]&0x40 != 0:
				s.Enqueue(bytes.Repeat([]byte{ops[i+1]}, int(ops[i+1])))
			default:
				if off == regData && s.lcr&lcrDLAB == 0 && s.mcr&mcrLoopback == 0 {
					wrote++
				}
				write(s, off, ops[i+1])
			}
			if len(s.rx) > rxCap {
				t.Fatalf("rx grew to %d", len(s.rx))
			}
		}
		if out.Len() != wrote {
			t.Fatalf("emitted %d bytes, guest wrote %d", out.Len(), wrote)
		}
	})
}
