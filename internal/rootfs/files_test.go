package rootfs

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/u-root/u-root/pkg/cpio"
)

func initramfsNames(t *testing.T, b []byte) map[string]cpio.Record {
	t.Helper()
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(b)))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]cpio.Record{}
	for _, r := range recs {
		m[r.Name] = r
	}
	return m
}

// TestDynamicBinaryAndAdd packs /bin/ls (dynamic here) and an added
// directory and file into an initramfs.
func TestDynamicBinaryAndAdd(t *testing.T) {
	if err := checkDynamic("/bin/ls"); err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "certs", "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "certs", "sub", "ca.pem"), []byte("PEM"), 0o600)
	os.WriteFile(filepath.Join(dir, "data.txt"), []byte("data"), 0o644)
	b, err := Build(Spec{
		Binaries: []string{"/bin/ls"},
		Files: []File{
			{Src: filepath.Join(dir, "certs"), Dst: "/etc/ssl/certs"},
			{Src: filepath.Join(dir, "data.txt"), Dst: "/srv/data.txt"},
		},
		Init: []byte("init"),
	})
	if err != nil {
		t.Fatal(err)
	}
	recs := initramfsNames(t, b)
	for _, want := range []string{"bin/ls", "lib64/ld-linux-x86-64.so.2", "lib/x86_64-linux-gnu/libc.so.6",
		"etc/ssl/certs/sub/ca.pem", "srv/data.txt", "etc/ssl"} {
		if _, ok := recs[want]; !ok {
			t.Errorf("initramfs lacks %s", want)
		}
	}
	if r := recs["lib64/ld-linux-x86-64.so.2"]; r.Mode&cpio.S_IFMT != cpio.S_IFREG || r.FileSize < 1000 {
		t.Errorf("the loader is not a regular file with content (mode %o, %d bytes)", r.Mode, r.FileSize)
	}
	if r := recs["etc/ssl/certs/sub/ca.pem"]; r.Mode&0o777 != 0o600 {
		t.Errorf("added file mode %o, want 600 (kept from the host)", r.Mode&0o777)
	}
}

func TestBinaryErrors(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "run.sh")
	os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755)
	_, err := Build(Spec{Binaries: []string{script}, Init: []byte("init")})
	if err == nil || !strings.Contains(err.Error(), "not an ELF executable") {
		t.Errorf("script: err = %v", err)
	}
	_, err = Build(Spec{Files: []File{{Src: script, Dst: "relative/x"}}, Init: []byte("init")})
	if err == nil || !strings.Contains(err.Error(), "not an absolute path") {
		t.Errorf("relative destination: err = %v", err)
	}
}

func checkDynamic(p string) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if !bytes.Contains(b, []byte("ld-linux-x86-64.so.2")) {
		return os.ErrNotExist
	}
	return nil
}
