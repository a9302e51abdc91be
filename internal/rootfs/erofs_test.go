package rootfs

import (
	"bytes"
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

func TestAutoLayoutThreshold(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "small"), []byte("x"), 0o644)
	r, err := BuildLayout(Spec{Dir: dir, Init: []byte("init")}, LayoutAuto)
	if err != nil || r.EROFS != nil {
		t.Fatalf("small root: %v, erofs %v; want initramfs", err, r != nil && r.EROFS != nil)
	}
	if _, err := exec.LookPath("mkfs.erofs"); err != nil {
		t.Skip("mkfs.erofs not installed")
	}
	os.WriteFile(filepath.Join(dir, "big"), make([]byte, BlockThreshold+1), 0o644)
	r, err = BuildLayout(Spec{Dir: dir, Init: []byte("init")}, LayoutAuto)
	if err != nil || r.EROFS == nil {
		t.Fatalf("big root: %v; want an EROFS image", err)
	}
}

func time0() (t time.Time) { return time.Unix(12345, 0) }
