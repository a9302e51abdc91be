package vmm

import (
	"os"
	"sort"
	"time"

	"golang.org/x/sys/unix"
)

// Profile samples guest RIP on vCPU 0 at a fixed interval: the cheapest
// profiler of guest kernel work there is (the VMM interrupts the vCPU
// with a signal and reads its registers). Map the addresses to symbols
// with the kernel's System.map (see `smolvm profile`).
type Profile struct {
	Interval time.Duration
	Samples  map[uint64]int // RIP -> count
	Times    []Sample       // every sample, in order
}

// Sample is one RIP observation.
type Sample struct {
	At  time.Duration // since the first KVM_RUN
	RIP uint64
}

// profiler kicks vCPU 0 every interval until the run ends.
func (m *Machine) profiler() {
	t := time.NewTicker(m.cfg.Profile.Interval)
	defer t.Stop()
	for {
		select {
		case <-m.done:
			return
		case <-t.C:
			if tid := m.tids[0].Load(); tid != 0 {
				m.sampleDue.Store(true)
				unix.Tgkill(os.Getpid(), int(tid), unix.SIGURG)
			}
		}
	}
}

// recordSample is called on vCPU 0's thread after an exit.
func (m *Machine) recordSample() {
	if !m.sampleDue.Swap(false) {
		return
	}
	r, err := m.cpus[0].Regs()
	if err != nil {
		return
	}
	p := m.cfg.Profile
	p.Samples[r.Rip]++
	m.mu.Lock()
	at := time.Since(m.timings.FirstRun)
	m.mu.Unlock()
	p.Times = append(p.Times, Sample{At: at, RIP: r.Rip})
}

// Top returns the n most sampled addresses.
func (p *Profile) Top(n int) []uint64 {
	addrs := make([]uint64, 0, len(p.Samples))
	for a := range p.Samples {
		addrs = append(addrs, a)
	}
	sort.Slice(addrs, func(i, j int) bool { return p.Samples[addrs[i]] > p.Samples[addrs[j]] })
	if len(addrs) > n {
		addrs = addrs[:n]
	}
	return addrs
}

// ProfileData returns the profile the run collected (nil if none).
func (m *Machine) ProfileData() *Profile { return m.cfg.Profile }
