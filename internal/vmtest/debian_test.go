package vmtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBootDebian boots a whole distribution: a Debian bookworm minbase
// root filesystem with python3, made by scripts/debian-root.sh (which
// `make test` runs and names in SMOLVM_DEBIAN_ROOT). The root becomes an
// EROFS image inside the one .vm file and is served to the guest from
// that file in place: the run gets an empty TMPDIR and HOME and may leave
// there only its kernel cache entry, and the image directory must hold
// only the image.
func TestBootDebian(t *testing.T) {
	RequireKVM(t)
	bin := Bin(t)
	root := os.Getenv("SMOLVM_DEBIAN_ROOT")
	if root == "" {
		t.Skip("needs a Debian root filesystem: SMOLVM_DEBIAN_ROOT=$(scripts/debian-root.sh) (make test sets it)")
	}
	if _, err := os.Stat(filepath.Join(root, "usr/bin/python3")); err != nil {
		t.Fatalf("SMOLVM_DEBIAN_ROOT=%s has no python3: %v", root, err)
	}
	imgDir := t.TempDir()
	img := filepath.Join(imgDir, "debian.vm")
	if r := Run(t, filepath.Join(bin, "smolvm"), "build", "-o", img, "--rootfs", root, "--", "python3", "-c", "print(2**100)"); r.Status != 0 {
		t.Fatalf("build: status %d: %s", r.Status, r.Stderr)
	}
	if r := Run(t, filepath.Join(bin, "smolvm"), "inspect", img); !strings.Contains(r.Stdout, "rootfs") {
		t.Errorf("inspect: no rootfs part in a Debian image:\n%s", r.Stdout)
	}
	scratch := t.TempDir()
	cmd := exec.Command(img)
	cmd.Env = append(os.Environ(), "TMPDIR="+scratch, "HOME="+scratch)
	cmd.Dir = scratch
	r := RunCmd(t, cmd)
	if want := "1267650600228229401496703205376\n"; r.Stdout != want || r.Status != 0 {
		t.Fatalf("./debian.vm: stdout %q status %d, want %q 0; stderr:\n%s", r.Stdout, r.Status, want, r.Stderr)
	}
	// The image directory holds only the image; HOME and TMPDIR only
	// the kernel cache's one entry (README: Kernel cache).
	if ents, _ := os.ReadDir(imgDir); len(ents) != 1 || ents[0].Name() != "debian.vm" {
		t.Errorf("the run left files beside the image: %v (nothing may be unpacked to the host)", ents)
	}
	var left []string
	filepath.WalkDir(scratch, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, strings.TrimPrefix(p, scratch+"/"))
		}
		return nil
	})
	if len(left) != 1 || !strings.HasPrefix(left[0], ".cache/smolvm/run-kernels/") || len(filepath.Base(left[0])) != 64 {
		t.Errorf("the run left %v in its HOME and TMPDIR, want only the kernel cache entry (nothing may be unpacked to the host)", left)
	}
}
