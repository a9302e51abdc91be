package vmtest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImageIntegrity: a damaged image is refused with a message naming
// the problem and smolvm's own exit status: before boot for every part
// but the root filesystem, whose blocks are checked as the guest reads
// them, and the kernel when it comes from the kernel cache (the image's
// copy is then checked while the VM starts, and the run stopped).
func TestImageIntegrity(t *testing.T) {
	bin := Bin(t)
	needBusybox(t)
	img := filepath.Join(t.TempDir(), "hello.vm")
	if r := Run(t, filepath.Join(bin, "smolvm"), "build", "-o", img, "--binary", busybox, "--", "busybox", "true"); r.Status != 0 {
		t.Fatalf("build: %s", r.Stderr)
	}
	r := Run(t, filepath.Join(bin, "smolvm"), "inspect", "--json", img)
	var info struct {
		Parts []struct {
			Name   string `json:"name"`
			Offset int64  `json:"offset"`
			Size   int64  `json:"size"`
		} `json:"parts"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &info); err != nil {
		t.Fatalf("inspect --json: %v\n%s", err, r.Stdout)
	}
	orig, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range info.Parts {
		t.Run("flip-"+p.Name, func(t *testing.T) {
			b := append([]byte(nil), orig...)
			b[p.Offset+p.Size/2] ^= 0x40
			if p.Name == "rootfs" {
				// The root is checked block by block as the guest
				// reads it: damage the first block, which holds
				// the superblock the kernel reads at mount.
				RequireKVM(t)
				b = append([]byte(nil), orig...)
				b[p.Offset+100] ^= 0x40
			}
			bad := filepath.Join(t.TempDir(), "bad.vm")
			os.WriteFile(bad, b, 0o755)
			r := Run(t, bad)
			if r.Status != 125 || !strings.Contains(r.Stderr, `"`+p.Name+`"`) || !strings.Contains(r.Stderr, "corrupted or modified") {
				t.Errorf("status %d stderr %q: want 125 and an integrity error naming part %q", r.Status, r.Stderr, p.Name)
			}
			if r.Stdout != "" {
				t.Errorf("stdout %q: nothing should run", r.Stdout)
			}
		})
	}
	for _, cut := range []int64{1, 100, int64(len(orig) / 2)} {
		bad := filepath.Join(t.TempDir(), "short.vm")
		os.WriteFile(bad, orig[:int64(len(orig))-cut], 0o755)
		// A file cut anywhere loses its trailer: as an executable it is
		// just the runtime, which says it holds no image; `smolvm run`
		// says the file is not a (complete) image.
		r := Run(t, filepath.Join(bin, "smolvm"), "run", bad)
		if r.Status != 125 || !(strings.Contains(r.Stderr, "truncated") || strings.Contains(r.Stderr, "not a smolvm image")) {
			t.Errorf("cut %d bytes: status %d stderr %q, want 125 and a truncation error", cut, r.Status, r.Stderr)
		}
		r = Run(t, bad)
		if r.Status != 125 || r.Stdout != "" {
			t.Errorf("cut %d bytes, run directly: status %d stdout %q stderr %q, want 125", cut, r.Status, r.Stdout, r.Stderr)
		}
	}
}
