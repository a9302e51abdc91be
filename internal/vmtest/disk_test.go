package vmtest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestBootDisk: a --disk is a virtio block device; what the guest writes
// and syncs is on the host file after the run, and the next run sees it
// (here through a read-only attachment, which must refuse writes).
func TestBootDisk(t *testing.T) {
	RequireKVM(t)
	bin := Bin(t)
	needBusybox(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.vm")
	if r := Run(t, filepath.Join(bin, "smolvm"), "build", "-o", img, "--root", "initramfs", "--binary", busybox, "--", "busybox"); r.Status != 0 {
		t.Fatalf("build: %s", r.Stderr)
	}
	disk := filepath.Join(dir, "data.img")
	if err := os.WriteFile(disk, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	r := Run(t, filepath.Join(bin, "smolvm"), "run", "--disk", disk, img, "sh", "-c",
		"echo persisted-by-guest | busybox dd of=/dev/vda bs=512 seek=8 conv=sync 2>/dev/null && busybox sync && echo done")
	if r.Status != 0 || r.Stdout != "done\n" {
		t.Fatalf("write run: status %d stdout %q stderr %s", r.Status, r.Stdout, r.Stderr)
	}
	b, _ := os.ReadFile(disk)
	if !bytes.HasPrefix(b[8*512:], []byte("persisted-by-guest\n")) {
		t.Fatalf("host file does not hold the guest's write: %q", b[8*512:8*512+32])
	}
	r = Run(t, filepath.Join(bin, "smolvm"), "run", "--disk", disk+":ro", img, "sh", "-c",
		"busybox dd if=/dev/vda bs=512 skip=8 count=1 2>/dev/null | busybox head -n 1; echo x | busybox dd of=/dev/vda bs=512 conv=sync,fsync 2>/dev/null && echo wrote || echo refused")
	if r.Status != 0 || r.Stdout != "persisted-by-guest\nrefused\n" {
		t.Fatalf("read-only run: status %d stdout %q, want the data back and the write refused; stderr %s", r.Status, r.Stdout, r.Stderr)
	}
}
