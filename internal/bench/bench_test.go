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

// buildImage runs smolvm build and records its time and the image size
// under prefix.
func buildImage(b *testing.B, prefix, img string, args ...string) {
	b.Helper()
	t0 := time.Now()
	if r := vmtest.Run(b, filepath.Join(vmtest.Bin(b), "smolvm"), append([]string{"build", "-o", img}, args...)...); r.Status != 0 {
		b.Fatalf("build: %s", r.Stderr)
	}
	record(prefix+"-build-ms", float64(time.Since(t0))/1e6, "`smolvm build` wall time")
	st, err := os.Stat(img)
	if err != nil {
		b.Fatal(err)
	}
	record(prefix+"-image-MB", float64(st.Size())/1e6, "size of the .vm file")
}

// boot runs the image once with SMOLVM_TIMINGS and the kernel cache in
// cacheDir, and returns its output and timings, and the process's wall
// time.
func boot(b *testing.B, cacheDir, img string, args ...string) (vmtest.Result, launch.Timings, time.Duration) {
	b.Helper()
	timings := filepath.Join(b.TempDir(), "timings.json")
	cmd := exec.Command(img, args...)
	cmd.Env = append(os.Environ(), "SMOLVM_TIMINGS="+timings, "SMOLVM_KERNEL_CACHE="+cacheDir)
	start := monotonic()
	r := vmtest.RunCmd(b, cmd)
	wall := monotonic() - start
	var tm launch.Timings
	data, err := os.ReadFile(timings)
	if err != nil {
		b.Fatalf("no timings (status %d, stderr %s): %v", r.Status, r.Stderr, err)
	}
	if err := json.Unmarshal(data, &tm); err != nil {
		b.Fatal(err)
	}
	// The VMM's first KVM_RUN on the same clock as our start.
	tm.SetupMS = float64(time.Duration(tm.FirstRunMonoNS)-start) / 1e6
	return r, tm, wall
}

// BenchmarkBusyboxEcho builds and boots `busybox echo hello` twice per
// iteration: a first run, which decodes the kernel and writes the kernel
// cache, then a run that maps the cached kernel (every later run of the
// image). Start-up, wall time and VMM memory are recorded per kind; the
// guest's times from both.
func BenchmarkBusyboxEcho(b *testing.B) {
	vmtest.RequireKVM(b)
	img := filepath.Join(b.TempDir(), "hello.vm")
	buildImage(b, "echo", img, "--binary", "/bin/busybox", "--", "busybox", "echo", "hello")
	for i := 0; i < b.N; i++ {
		cache := b.TempDir()
		for _, cached := range []bool{false, true} {
			r, tm, wall := boot(b, cache, img)
			if r.Status != 0 || r.Stdout != "hello\n" {
				b.Fatalf("run: status %d stdout %q stderr %s", r.Status, r.Stdout, r.Stderr)
			}
			if tm.KernelCached != cached {
				b.Fatalf("kernel_cached %v, want %v", tm.KernelCached, cached)
			}
			record("to-init-ms", tm.InitStartMS, "first KVM_RUN to smol-init's first marker (guest kernel boot)")
			record("to-program-ms", tm.ProgramStartMS, "first KVM_RUN to the program's start")
			record("to-exit-ms", tm.ProgramExitMS, "first KVM_RUN to the program's exit")
			if !cached {
				record("startup-first-ms", tm.SetupMS, "host side, first run of an image (kernel decoded and hashed, then cached): process start to the first KVM_RUN")
				record("vmm-rss-first-MiB", float64(tm.VMMRSSKiB)/1024, "VMM resident memory outside guest RAM, first run (includes writing the kernel cache)")
				continue
			}
			record("startup-ms", tm.SetupMS, "host side, every later run (cached kernel mapped): process start to the first KVM_RUN (our code, native)")
			record("echo-wall-ms", float64(wall)/1e6, "whole run as a user sees it (cached kernel): process start to exit")
			record("vmm-rss-MiB", float64(tm.VMMRSSKiB)/1024, "VMM resident memory outside guest RAM, end of run (cached kernel; 1 vCPU, 128 MiB)")
		}
	}
}

// BenchmarkGoServer builds a small static Go HTTP echo server into an
// image and boots it once in -once mode (it serves one request to
// itself over the guest's loopback and exits).
func BenchmarkGoServer(b *testing.B) {
	vmtest.RequireKVM(b)
	dir := b.TempDir()
	server := filepath.Join(dir, "echoserver")
	gobuild := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", server, "./testdata/echoserver")
	gobuild.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := gobuild.CombinedOutput(); err != nil {
		b.Fatalf("go build echoserver: %v: %s", err, out)
	}
	img := filepath.Join(dir, "server.vm")
	buildImage(b, "server", img, "--binary", server, "--", "echoserver")
	cache := b.TempDir()
	for i := 0; i < b.N; i++ {
		r, tm, _ := boot(b, cache, img, "-once")
		if want := "echo from a smolvm guest\n"; r.Status != 0 || r.Stdout != want {
			b.Fatalf("run: status %d stdout %q (want %q) stderr %s", r.Status, r.Stdout, want, r.Stderr)
		}
		record("server-to-exit-ms", tm.ProgramExitMS, "Go server image: first KVM_RUN to exit after one request over loopback")
	}
}
