package launch

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smolvm/smolvm/internal/image"
	"github.com/smolvm/smolvm/internal/loader"
	"github.com/smolvm/smolvm/internal/loader/loadertest"
)

// testImage writes an image holding a small flat kernel and returns its
// path and the kernel part's offset in the file.
func testImage(t *testing.T) (string, int64) {
	t.Helper()
	var buf bytes.Buffer
	w, err := image.NewWriter(&buf, bytes.NewReader(loadertest.ELF(0x200000, []byte{1}, true, 4)))
	if err != nil {
		t.Fatal(err)
	}
	flat := loader.EncodeFlat(0x200000, []loader.Segment{{Paddr: 0x200000, Memsz: 0x3000, Data: bytes.Repeat([]byte{7}, 5000)}})
	p, err := w.AddPart(image.KernelPart, bytes.NewReader(flat), image.LZ4)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "k.vm")
	if err := os.WriteFile(path, buf.Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, p.Offset
}

func openImage(t *testing.T, path string) *image.ReadCloser {
	t.Helper()
	img, err := image.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { img.Close() })
	return img
}

func TestKernelCache(t *testing.T) {
	path, _ := testImage(t)
	img := openImage(t, path)
	digest := kernelDigest(img)
	dir := filepath.Join(t.TempDir(), "run-kernels")
	if c, err := cachedKernel(img, dir, digest); c != nil || err == nil {
		t.Fatal("empty cache: an entry")
	}
	if err := fillKernelCache(img, dir, digest); err != nil {
		t.Fatal(err)
	}
	entry := filepath.Join(dir, digest)
	if st, err := os.Stat(entry); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("entry: %v %v", st, err)
	}
	c, err := cachedKernel(img, dir, digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.verdict(); err != nil {
		t.Fatalf("intact entry and image: %v", err)
	}
	c.close()

	// A symbolic link to the directory is followed; one in place of
	// the entry is not.
	link := filepath.Join(t.TempDir(), "link")
	os.Symlink(dir, link)
	if c, err := cachedKernel(img, link, digest); err != nil {
		t.Errorf("directory through a symlink: %v", err)
	} else {
		c.close()
	}
	other := t.TempDir()
	os.Symlink(entry, filepath.Join(other, digest))
	if _, err := cachedKernel(img, other, digest); err == nil {
		t.Error("an entry that is a symlink was used")
	}
	if _, err := cachedKernel(img, dir, "../"+digest[3:]); err == nil {
		t.Error("a digest with a path in it was used")
	}

	// Writable by others: refused, for the entry and for its directory.
	os.Chmod(entry, 0o666)
	if _, err := cachedKernel(img, dir, digest); err == nil || !strings.Contains(err.Error(), "written by others") {
		t.Errorf("world-writable entry: %v", err)
	}
	os.Chmod(entry, 0o600)
	os.Chmod(dir, 0o777)
	if _, err := cachedKernel(img, dir, digest); err == nil || !strings.Contains(err.Error(), "written by others") {
		t.Errorf("world-writable directory: %v", err)
	}
	os.Chmod(dir, 0o700)

	// Another user's entry (tested where the test may chown).
	if os.Geteuid() == 0 {
		os.Chown(entry, 65534, 65534)
		if _, err := cachedKernel(img, dir, digest); err == nil || !strings.Contains(err.Error(), "not to this user") {
			t.Errorf("another user's entry: %v", err)
		}
		os.Chown(entry, 0, 0)
	}

	// A malformed entry is refused and a fill replaces it.
	os.WriteFile(entry, []byte("SMOLKRM2 cut short"), 0o600)
	if _, err := cachedKernel(img, dir, digest); err == nil {
		t.Error("malformed entry used")
	}
	if err := fillKernelCache(img, dir, digest); err != nil {
		t.Fatal(err)
	}
	if c, err := cachedKernel(img, dir, digest); err != nil {
		t.Fatalf("after the refill: %v", err)
	} else {
		c.close()
	}
}

// Damage found after the guest started: in the entry's data (the entry
// is removed) or in the image's kernel part.
func TestKernelCacheDamage(t *testing.T) {
	path, kernelOff := testImage(t)
	img := openImage(t, path)
	digest := kernelDigest(img)
	dir := t.TempDir()
	if err := fillKernelCache(img, dir, digest); err != nil {
		t.Fatal(err)
	}
	entry := filepath.Join(dir, digest)
	f, _ := os.OpenFile(entry, os.O_RDWR, 0)
	f.WriteAt([]byte{0xff}, loader.PageSize+10)
	f.Close()
	c, err := cachedKernel(img, dir, digest)
	if err != nil {
		t.Fatalf("header intact, so the entry opens: %v", err)
	}
	if err := c.verdict(); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("damaged entry: %v", err)
	}
	c.close()
	if _, err := os.Stat(entry); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("damaged entry not removed: %v", err)
	}

	if err := fillKernelCache(img, dir, digest); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	b[kernelOff+5] ^= 0x40
	os.WriteFile(path, b, 0o755)
	bad := openImage(t, path)
	c, err = cachedKernel(bad, dir, digest)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if err := c.verdict(); !errors.Is(err, image.ErrCorrupt) {
		t.Errorf("damaged image, good entry: %v", err)
	}
}
