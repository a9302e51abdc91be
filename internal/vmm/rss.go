package vmm

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// vmmRSSKiB returns the resident memory of this process in every mapping
// that is not guest RAM, from /proc/self/smaps: the VMM's own overhead,
// measured the way Firecracker and Cloud Hypervisor report it.
func (m *Machine) vmmRSSKiB() int64 {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return -1
	}
	defer f.Close()
	type span struct{ lo, hi uint64 }
	var guest []span
	for _, r := range m.mem.Regions() {
		lo := uint64(r.HostAddr())
		guest = append(guest, span{lo, lo + r.Size()})
	}
	var total int64
	skip := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rng, _, ok := strings.Cut(line, " "); ok && strings.Contains(rng, "-") && !strings.HasSuffix(rng, ":") {
			lo, hi, _ := strings.Cut(rng, "-")
			a, err1 := strconv.ParseUint(lo, 16, 64)
			b, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 == nil && err2 == nil {
				skip = false
				for _, g := range guest {
					if a < g.hi && g.lo < b {
						skip = true
					}
				}
				continue
			}
		}
		if v, ok := strings.CutPrefix(line, "Rss:"); ok && !skip {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			total += kb
		}
	}
	return total
}
