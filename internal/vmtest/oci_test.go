package vmtest

import (
	"archive/tar"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/smolvm/smolvm/internal/oci/ocitest"
)

// TestBootImageAndDynamicBinary boots what issue 4 builds from: an OCI
// image made here from Debian's static busybox (USER nobody, WORKDIR
// /srv, CMD only), and a dynamically linked Debian program packed with
// --binary, whose output must equal the host's for the same input.
func TestBootImageAndDynamicBinary(t *testing.T) {
	RequireKVM(t)
	bin := Bin(t)
	needBusybox(t)
	smolvm := filepath.Join(bin, "smolvm")
	dir := t.TempDir()

	bb, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	layer := ocitest.Layer(t,
		ocitest.File{Name: "bin/"},
		ocitest.File{Name: "bin/busybox", Data: bb, Mode: 0o755},
		ocitest.File{Name: "bin/sh", Type: tar.TypeSymlink, Linkname: "busybox"},
		ocitest.File{Name: "bin/id", Type: tar.TypeSymlink, Linkname: "busybox"},
		ocitest.File{Name: "bin/pwd", Type: tar.TypeSymlink, Linkname: "busybox"},
		ocitest.File{Name: "etc/"},
		ocitest.File{Name: "etc/passwd", Data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n")},
		ocitest.File{Name: "etc/group", Data: []byte("root:x:0:\nnogroup:x:65534:\n")},
		ocitest.File{Name: "srv/"},
	)
	img := ocitest.Image(t, v1.Config{
		Cmd: []string{"sh", "-c", "id -un; pwd"}, Env: []string{"PATH=/bin"},
		User: "nobody", WorkingDir: "/srv",
	}, layer)
	saved := filepath.Join(dir, "busybox-image.tar")
	ocitest.Save(t, saved, "busybox:test", img)
	imageVM := filepath.Join(dir, "image.vm")
	if r := Run(t, smolvm, "build", "-o", imageVM, "--image", saved); r.Status != 0 {
		t.Fatalf("build --image: status %d: %s", r.Status, r.Stderr)
	}

	const jq = "/usr/bin/jq"
	if _, err := os.Stat(jq); err != nil {
		t.Skipf("needs Debian's jq (make deps installs it): %v", err)
	}
	input := filepath.Join(dir, "input.json")
	os.WriteFile(input, []byte(`{"b":[3,1,2],"a":{"z":1,"y":"två"},"n":1e3}`+"\n"), 0o644)
	const filter = `{keys: keys, sorted: (.b | sort), y: .a.y, n: .n}`
	// -M: the guest's stdout is a terminal, where jq would colour.
	host, err := exec.Command(jq, "-M", "-c", filter, input).Output()
	if err != nil {
		t.Fatalf("jq on the host: %v", err)
	}
	jqVM := filepath.Join(dir, "jq.vm")
	if r := Run(t, smolvm, "build", "-o", jqVM, "--binary", jq, "--add", input+":/data/input.json",
		"--", "jq", "-M", "-c", filter, "/data/input.json"); r.Status != 0 {
		t.Fatalf("build --binary jq: status %d: %s", r.Status, r.Stderr)
	}

	t.Run("image-user-workdir", func(t *testing.T) {
		t.Parallel()
		r := Run(t, imageVM)
		if want := "nobody\n/srv\n"; r.Stdout != want || r.Status != 0 {
			t.Errorf("stdout %q status %d, want %q 0; stderr:\n%s", r.Stdout, r.Status, want, r.Stderr)
		}
	})
	t.Run("dynamic-jq", func(t *testing.T) {
		t.Parallel()
		r := Run(t, jqVM)
		if r.Stdout != string(host) || r.Status != 0 {
			t.Errorf("stdout %q status %d, want the host's %q 0; stderr:\n%s", r.Stdout, r.Status, host, r.Stderr)
		}
	})
}
