package zzscratch

import (
	"testing"
	"time"

	"github.com/smolvm/smolvm/internal/vmm"
)

func TestProbeTime(t *testing.T) {
	for i := 0; i < 8; i++ {
		s := time.Now()
		p, err := vmm.ProbeHost()
		t.Logf("%v %v %v", time.Since(s), p, err)
	}
}
