// Package bench measures smolvm as a user runs it: image build time and
// size, host-side start-up (process start to the first KVM_RUN, our own
// code, measured natively), VMM memory outside guest RAM, and the time to
// smol-init and to program exit (guest kernel work: on hosts that emulate
// guest kernel code this is dominated by that emulation).
//
// Run with `make bench`. Figures are printed, never asserted.
package bench

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/smolvm/smolvm/internal/launch"
	"github.com/smolvm/smolvm/internal/vmtest"
)

func monotonic() time.Duration {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return time.Duration(ts.Nano())
}

// BenchmarkBusyboxEcho builds and boots `busybox echo hello`.
func BenchmarkBusyboxEcho(b *testing.B) {
	vmtest.RequireKVM(b)
	bin := vmtest.Bin(b)
	img := filepath.Join(b.TempDir(), "hello.vm")
	t0 := time.Now()
	if r := vmtest.Run(b, filepath.Join(bin, "smolvm"), "build", "-o", img, "--binary", "/bin/busybox", "--", "busybox", "echo", "hello"); r.Status != 0 {
		b.Fatalf("build: %s", r.Stderr)
	}
	buildTime := time.Since(t0)
	st, err := os.Stat(img)
	if err != nil {
		b.Fatal(err)
	}
	timings := filepath.Join(b.TempDir(), "timings.json")
	var startup, toInit, toExit, rss float64
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(img)
		cmd.Env = append(os.Environ(), "SMOLVM_TIMINGS="+timings)
		start := monotonic()
		r := vmtest.RunCmd(b, cmd)
		if r.Status != 0 || r.Stdout != "hello\n" {
			b.Fatalf("run: status %d stdout %q stderr %s", r.Status, r.Stdout, r.Stderr)
		}
		var tm launch.Timings
		data, err := os.ReadFile(timings)
		if err != nil {
			b.Fatal(err)
		}
		if err := json.Unmarshal(data, &tm); err != nil {
			b.Fatal(err)
		}
		startup += float64(time.Duration(tm.FirstRunMonoNS)-start) / 1e6
		toInit += tm.InitStartMS
		toExit += tm.ProgramExitMS
		rss += float64(tm.VMMRSSKiB) / 1024
	}
	n := float64(b.N)
	b.ReportMetric(startup/n, "startup-ms")
	b.ReportMetric(toInit/n, "to-init-ms")
	b.ReportMetric(toExit/n, "to-exit-ms")
	b.ReportMetric(rss/n, "vmm-rss-MiB")
	b.ReportMetric(float64(st.Size())/1e6, "image-MB")
	b.ReportMetric(buildTime.Seconds()*1000, "build-ms")
}
