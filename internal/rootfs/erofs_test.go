package rootfs

import (
	"bytes"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func TestEROFSReproducibleAndMountable(t *testing.T) {
	if _, err := exec.LookPath("mkfs.erofs"); err != nil {
		t.Skip("mkfs.erofs not installed (erofs-utils)")
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "etc"), 0o755)
	os.WriteFile(filepath.Join(dir, "etc", "motd"), []byte("hello\n"), 0o644)
	os.Symlink("motd", filepath.Join(dir, "etc", "link"))
	spec := Spec{Dir: dir, Init: []byte("init")}
	a, err := BuildLayout(spec, LayoutBlock)
	if err != nil {
		t.Fatal(err)
	}
	// Touch the tree: times must not change the image.
	os.Chtimes(filepath.Join(dir, "etc", "motd"), time0(), time0())
	b, err := BuildLayout(spec, LayoutBlock)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.EROFS, b.EROFS) || !bytes.Equal(a.Initramfs, b.Initramfs) {
		t.Fatal("same tree gave different images")
	}
	// EROFS superblock magic at offset 1024.
	if len(a.EROFS) < 1028 || !bytes.Equal(a.EROFS[1024:1028], []byte{0xe2, 0xe1, 0xf5, 0xe0}) {
		t.Fatal("no EROFS superblock")
	}
	if len(a.EROFS)%512 != 0 {
		t.Fatalf("image size %d is not whole sectors", len(a.EROFS))
	}
}

// TestAutoLayoutBootsFromEROFS: auto gives an EROFS image and no
// initramfs, smol-init inside the image (stored uncompressed, so its
// bytes appear as they are) and the directories smol-init mounts on.
func TestAutoLayoutBootsFromEROFS(t *testing.T) {
	if _, err := exec.LookPath("mkfs.erofs"); err != nil {
		t.Skip("mkfs.erofs not installed")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "small"), []byte("x"), 0o644)
	init := make([]byte, 8192)
	rand.Read(init)
	r, err := BuildLayout(Spec{Dir: dir, Init: init}, LayoutAuto)
	if err != nil || r.EROFS == nil || r.Initramfs != nil {
		t.Fatalf("auto: %v; want an EROFS image and no initramfs", err)
	}
	if !bytes.Contains(r.EROFS, init) {
		t.Error("smol-init is not in the EROFS image")
	}
	if _, err := BuildLayout(Spec{Dir: dir}, LayoutAuto); err == nil {
		t.Error("a block root without smol-init was built")
	}
	stage := t.TempDir()
	os.Symlink("/var/run", filepath.Join(stage, "run"))
	if err := stageBoot(stage, init); err != nil {
		t.Fatal(err)
	}
	for _, d := range bootDirs {
		st, err := os.Lstat(filepath.Join(stage, d.path))
		if d.path == "run" {
			if err != nil || st.Mode()&os.ModeSymlink == 0 {
				t.Errorf("an existing /run symlink was replaced: %v", err)
			}
			continue
		}
		if err != nil || st.Mode() != d.mode|os.ModeDir {
			t.Errorf("%s: %v mode %v, want %v", d.path, err, st.Mode(), d.mode|os.ModeDir)
		}
	}
}

func time0() (t time.Time) { return time.Unix(12345, 0) }
