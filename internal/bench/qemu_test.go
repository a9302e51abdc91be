package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/smolvm/smolvm/internal/guest/protocol"
	"github.com/smolvm/smolvm/internal/image"
	"github.com/smolvm/smolvm/internal/vmm"
	"github.com/smolvm/smolvm/internal/vmtest"
)

// BenchmarkQEMUReference boots the same kernel, root disk and command
// line as BenchmarkBusyboxEcho under QEMU's microvm machine, as the
// reference VMM: on a host that emulates guest kernel code both are
// dominated by the same guest work, so the ratio of the two (in the
// results table) is the meaningful figure, not either number alone.
//
// The guest gets the same root disk (the image's EROFS root followed by
// the run configuration, as our VMM serves it) and an entropy device;
// the program's output goes to the serial port (no virtio console), and
// smol-init's reports reach QEMU through isa-debug-exit at the exit
// port, which makes QEMU exit as soon as the program's status is written.
//
// Each iteration boots the smolvm image too, just before QEMU, and
// records the ratio of the two: the machine's speed drifts over minutes
// (by 10% here), and a pair taken back to back sees the same machine.
func BenchmarkQEMUReference(b *testing.B) {
	vmtest.RequireKVM(b)
	bin := vmtest.Bin(b)
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		b.Skip("qemu-system-x86_64 not installed (make bench installs Debian's qemu-system-x86)")
	}
	dir := b.TempDir()
	img := filepath.Join(dir, "hello.vm")
	if r := vmtest.Run(b, filepath.Join(bin, "smolvm"), "build", "-o", img, "--binary", "/bin/busybox", "--", "busybox", "echo", "hello"); r.Status != 0 {
		b.Fatalf("build: %s", r.Stderr)
	}
	disk := filepath.Join(dir, "root.img")
	writeRootDisk(b, img, disk, protocol.Config{
		Argv: []string{"busybox", "echo", "hello"},
		Root: &protocol.Root{Device: protocol.RootDevice, FSType: "erofs", Booted: true},
	})

	probe, err := vmm.ProbeHost()
	if err != nil {
		b.Fatal(err)
	}
	compat := ""
	if probe.Emulated {
		compat = vmm.CompatCmdline
	}
	cmdline := vmm.Cmdline(vmm.BaseCmdline, vmm.QuietCmdline, compat,
		"root="+protocol.RootDevice+" rootfstype=erofs ro init="+protocol.RootInitPath)

	cache := b.TempDir()
	for i := 0; i < b.N; i++ {
		r, _, ours := boot(b, cache, img)
		if r.Status != 0 || r.Stdout != "hello\n" {
			b.Fatalf("smolvm run: status %d stdout %q stderr %s", r.Status, r.Stdout, r.Stderr)
		}
		out := filepath.Join(dir, "com1.out")
		console := filepath.Join(dir, "com2.out") // kernel console and stderr
		cmd := exec.Command(qemu,
			// acpi=off: the guest kernel has no ACPI, and only without it
			// does microvm declare its virtio-mmio devices on the command line.
			"-M", "microvm,x-option-roms=off,rtc=off,isa-serial=on,acpi=off",
			"-enable-kvm", "-cpu", "host,-arch-capabilities",
			"-m", "128", "-smp", "1",
			"-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
			"-kernel", filepath.Join(bin, "vmlinux"),
			"-append", cmdline,
			"-drive", "id=root,file="+disk+",format=raw,if=none,readonly=on",
			"-device", "virtio-blk-device,drive=root",
			"-device", "virtio-rng-device",
			"-serial", "file:"+out,
			"-device", "isa-serial,iobase=0x2f8,irq=3,chardev=com2",
			"-chardev", "file,id=com2,path="+console,
			"-device", "isa-debug-exit,iobase=0x600,iosize=1",
		)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start := time.Now()
		err := cmd.Run()
		elapsed := time.Since(start)
		// isa-debug-exit exits with (status << 1) | 1: 1 for status 0.
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			con, _ := os.ReadFile(console)
			b.Fatalf("qemu: %v (want exit 1 from isa-debug-exit); stderr:\n%s\nguest console:\n%s", err, stderr.String(), con)
		}
		got, _ := os.ReadFile(out)
		if string(got) != "hello\n" {
			b.Fatalf("qemu run printed %q, want %q", got, "hello\n")
		}
		record("qemu-wall-ms", float64(elapsed)/1e6, "QEMU microvm, same kernel, root disk and command line: process start to exit")
		record("paired-ratio-vs-qemu", float64(ours)/float64(elapsed), "smolvm's wall time over QEMU's, the two booted back to back (lower is better)")
	}
}

// writeRootDisk writes the image's root filesystem followed by the run
// configuration, as the smolvm VMM serves the root disk.
func writeRootDisk(b *testing.B, img, path string, cfg protocol.Config) {
	r, err := image.Open(img)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	root, err := r.ReadPart(image.RootFSPart)
	if err != nil {
		b.Fatal(err)
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		b.Fatal(err)
	}
	tail, err := protocol.DiskConfigTail(int64(len(root)), js)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, append(root, tail...), 0o644); err != nil {
		b.Fatal(err)
	}
}
