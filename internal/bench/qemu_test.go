package bench

import (
	"bytes"
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

// BenchmarkQEMUReference boots the same kernel, initramfs and command
// line as BenchmarkBusyboxEcho under QEMU's microvm machine, as the
// reference VMM: on a host that emulates guest kernel code both are
// dominated by the same guest work, so the ratio of the two is the
// meaningful figure, not either number alone.
//
// smol-init's reports reach QEMU through isa-debug-exit at the exit
// port, which makes QEMU exit as soon as the program's status is written.
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
	initrd := filepath.Join(dir, "initrd")
	writeInitrd(b, img, initrd, protocol.Config{Argv: []string{"busybox", "echo", "hello"}})

	probe, err := vmm.ProbeHost()
	if err != nil {
		b.Fatal(err)
	}
	compat := ""
	if probe.Emulated {
		compat = vmm.CompatCmdline
	}
	cmdline := vmm.Cmdline(vmm.BaseCmdline, vmm.QuietCmdline, compat)

	var toExit float64
	for i := 0; i < b.N; i++ {
		out := filepath.Join(dir, "com1.out")
		cmd := exec.Command(qemu,
			"-M", "microvm,x-option-roms=off,rtc=off,isa-serial=on",
			"-enable-kvm", "-cpu", "host,-arch-capabilities",
			"-m", "128", "-smp", "1",
			"-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
			"-kernel", filepath.Join(bin, "vmlinux"),
			"-initrd", initrd,
			"-append", cmdline,
			"-serial", "file:"+out,
			"-device", "isa-serial,iobase=0x2f8,irq=3,chardev=com2",
			"-chardev", "null,id=com2",
			"-device", "isa-debug-exit,iobase=0x600,iosize=1",
		)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start := time.Now()
		err := cmd.Run()
		elapsed := time.Since(start)
		// isa-debug-exit exits with (status << 1) | 1: 1 for status 0.
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			b.Fatalf("qemu: %v (want exit 1 from isa-debug-exit); stderr:\n%s", err, stderr.String())
		}
		got, _ := os.ReadFile(out)
		if string(got) != "hello\n" {
			b.Fatalf("qemu run printed %q, want %q", got, "hello\n")
		}
		toExit += float64(elapsed) / 1e6
	}
	b.ReportMetric(toExit/float64(b.N), "qemu-wall-ms")
}

// writeInitrd writes the image's initramfs followed by the run
// configuration archive, exactly as the smolvm VMM lays them out.
func writeInitrd(b *testing.B, img, path string, cfg protocol.Config) {
	r, err := image.Open(img)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	base, err := r.ReadPart(image.InitramfsPart)
	if err != nil {
		b.Fatal(err)
	}
	extra, err := vmm.ConfigArchive(cfg)
	if err != nil {
		b.Fatal(err)
	}
	for len(base)%4 != 0 {
		base = append(base, 0)
	}
	if err := os.WriteFile(path, append(base, extra...), 0o644); err != nil {
		b.Fatal(err)
	}
}
