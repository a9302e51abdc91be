package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/smolvm/smolvm/internal/vmtest"
)

// ioScript copies data through each path with busybox dd, which reports
// its own wall time (guest clock) on stderr, one line per copy.
const ioScript = `
busybox dd if=/dev/zero of=/dev/null bs=32k count=320
busybox dd if=/dev/zero bs=32k count=320
busybox dd if=/dev/zero of=/dev/ttyS0 bs=4k count=64
busybox dd if=/dev/vda of=/dev/null bs=1M iflag=direct
busybox dd if=/dev/vda of=/dev/null bs=1M
`

// ioPaths names ioScript's copies, in order.
var ioPaths = []string{"zero-MBps", "console-MBps", "serial-MBps", "blk-direct-MBps", "blk-buffered-MBps"}

var ioNotes = []string{
	"guest reading /dev/zero to /dev/null: the cost of producing the data",
	"program stdout over the virtio console (10 MiB), guest dd's figure",
	"8250 UART, one VM exit per byte (256 KiB)",
	"virtio-blk read of a 64 MiB disk, O_DIRECT, 1 MiB requests",
	"virtio-blk read through the guest page cache",
}

// ddLine matches busybox dd's summary: "N bytes (...) copied, S seconds, ...".
var ddLine = regexp.MustCompile(`(\d+) bytes .* copied, ([0-9.]+) seconds`)

// BenchmarkIO measures guest I/O throughput: the program's stdout over
// the virtio console (10 MiB) beside the 8250 UART (256 KiB, one VM exit
// per byte), and reads of a 64 MiB virtio-blk disk with O_DIRECT and
// through the page cache. zero-MBps is the cost of producing the data
// (reading /dev/zero), to subtract mentally: on hosts that emulate guest
// kernel code every figure here is bounded by that emulation.
func BenchmarkIO(b *testing.B) {
	vmtest.RequireKVM(b)
	bin := vmtest.Bin(b)
	dir := b.TempDir()
	img := filepath.Join(dir, "io.vm")
	if r := vmtest.Run(b, filepath.Join(bin, "smolvm"), "build", "-o", img, "--binary", "/bin/busybox", "--", "busybox", "sh", "-c", ioScript); r.Status != 0 {
		b.Fatalf("build: %s", r.Stderr)
	}
	disk := filepath.Join(dir, "disk.img")
	data := make([]byte, 64<<20)
	for i := range data {
		data[i] = byte(i >> 12)
	}
	if err := os.WriteFile(disk, data, 0o644); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		r := vmtest.RunCmd(b, exec.Command(filepath.Join(bin, "smolvm"), "run", "--disk", disk+":ro", img))
		if r.Status != 0 {
			b.Fatalf("run: status %d stderr %s", r.Status, r.Stderr)
		}
		m := ddLine.FindAllStringSubmatch(r.Stderr, -1)
		if len(m) != len(ioPaths) {
			b.Fatalf("want %d dd summaries on stderr, got %d:\n%s", len(ioPaths), len(m), r.Stderr)
		}
		for j, g := range m {
			n, _ := strconv.ParseFloat(g[1], 64)
			s, _ := strconv.ParseFloat(g[2], 64)
			if s <= 0 {
				s = 0.001 // dd's clock granularity
			}
			record(ioPaths[j], n/s/1e6, ioNotes[j])
		}
	}
}
