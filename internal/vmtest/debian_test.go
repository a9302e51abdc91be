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
// that file in place: the run gets an empty TMPDIR and HOME and must
// leave them empty, and the image directory must hold only the image.
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
	for _, d := range []string{scratch, imgDir} {
		ents, _ := os.ReadDir(d)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if d == imgDir && (len(names) != 1 || names[0] != "debian.vm") || d == scratch && len(names) != 0 {
			t.Errorf("the run left files in %s: %v (nothing may be unpacked to the host)", d, names)
		}
	}
}
