package legacy

import (
	"bytes"
	"testing"

	"github.com/smolvm/smolvm/internal/fuzzcorpus"
)

// serialSeeds are FuzzSerial's committed corpus
// (testdata/fuzz/FuzzSerial). Each input is pairs of bytes: a register
// (bit 7: read it; bit 6: queue the next byte's value that many times as
// host input) and a value.
func serialSeeds() map[string][]any {
	w := func(reg, v byte) []byte { return []byte{reg, v} }
	r := func(reg byte) []byte { return []byte{0x80 | reg, 0} }
	seq := func(parts ...[]byte) []any { return []any{bytes.Join(parts, nil)} }
	return map[string][]any{
		"transmit":     seq(w(regData, 'o'), w(regData, 'k'), r(regLSR)),
		"thre-irq":     seq(w(regIER, ierTHRE), r(regIIR), r(regIIR), w(regData, '!'), r(regIIR)),
		"divisor":      seq(w(regLCR, lcrDLAB|3), w(regData, 1), w(regIER, 0), r(regData), w(regLCR, 3), w(regData, 'x')),
		"loopback":     seq(w(regMCR, mcrLoopback), w(regData, 'l'), r(regLSR), r(regData), r(regMSR)),
		"receive":      seq(w(regIER, 1), []byte{0x40, 3}, r(regIIR), r(regLSR), r(regData), r(regData), r(regData), r(regData)),
		"receive-full": seq(bytes.Repeat([]byte{0x40, 0xff}, 80), r(regLSR), r(regData)),
		"fifo-control": seq(w(regIIR, 0x07), w(regIIR, 0xc1), r(regIIR), w(regSCR, 0x5a), r(regSCR)),
		"all-ones":     seq(bytes.Repeat([]byte{0x3f, 0xff}, 8), bytes.Repeat([]byte{0xbf, 0xff}, 8)),
	}
}

func TestFuzzSerialSeeds(t *testing.T) { fuzzcorpus.Check(t, "FuzzSerial", serialSeeds()) }
