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

// ioScript copies data through each path with busybox dd and reports,
// on stderr, "io NAME BYTES START END" with the guest's uptime around
// each copy (Debian's busybox dd prints no timing of its own). The
// --disk is /dev/vdb: /dev/vda is the image's own root filesystem.
const ioScript = `
m() { n=$1; b=$2; shift 2; s=$(busybox cut -d' ' -f1 /proc/uptime); "$@" 2>/dev/null || { echo "io $n failed" >&2; return; }; e=$(busybox cut -d' ' -f1 /proc/uptime); echo "io $n $b $s $e" >&2; }
m zero-MBps 10485760 busybox dd if=/dev/zero of=/dev/null bs=32k count=320
m console-MBps 10485760 busybox dd if=/dev/zero bs=32k count=320
m serial-MBps 65536 busybox dd if=/dev/zero of=/dev/ttyS0 bs=4k count=16
m blk-direct-MBps 16777216 busybox dd if=/dev/vdb of=/dev/null bs=1M iflag=direct
m blk-buffered-MBps 16777216 busybox dd if=/dev/vdb of=/dev/null bs=1M
`

// ioPaths names ioScript's copies, in order.
var ioPaths = []string{"zero-MBps", "console-MBps", "serial-MBps", "blk-direct-MBps", "blk-buffered-MBps"}

var ioNotes = []string{
	"guest reading /dev/zero to /dev/null: the cost of producing the data",
	"program stdout over the virtio console (10 MiB), guest clock",
	"8250 UART, one VM exit per byte (64 KiB)",
	"virtio-blk read of a 16 MiB disk, O_DIRECT, 1 MiB requests",
	"virtio-blk read through the guest page cache",
}

// ioLine matches ioScript's reports.
var ioLine = regexp.MustCompile(`(?m)^io (\S+) (\d+) ([0-9.]+) ([0-9.]+)$`)

// BenchmarkIO measures guest I/O throughput: the program's stdout over
// the virtio console (10 MiB) beside the 8250 UART (64 KiB, one VM exit
// per byte), and reads of a 16 MiB virtio-blk disk with O_DIRECT and
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
	data := make([]byte, 16<<20)
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
		m := ioLine.FindAllStringSubmatch(r.Stderr, -1)
		if len(m) != len(ioPaths) {
			b.Fatalf("want %d io reports on stderr, got %d:\n%s", len(ioPaths), len(m), r.Stderr)
		}
		for j, g := range m {
			if g[1] != ioPaths[j] {
				b.Fatalf("report %d is %s, want %s", j, g[1], ioPaths[j])
			}
			n, _ := strconv.ParseFloat(g[2], 64)
			t0, _ := strconv.ParseFloat(g[3], 64)
			t1, _ := strconv.ParseFloat(g[4], 64)
			s := t1 - t0
			if s <= 0 {
				s = 0.01 // /proc/uptime's resolution
			}
			record(ioPaths[j], n/s/1e6, ioNotes[j])
		}
	}
}
