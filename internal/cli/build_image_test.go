package cli

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/smolvm/smolvm/internal/guest/protocol"
	"github.com/smolvm/smolvm/internal/image"
	"github.com/smolvm/smolvm/internal/loader/loadertest"
	"github.com/smolvm/smolvm/internal/oci/ocitest"
)

// fakeAssets points the build at a tiny kernel the loader accepts, a
// stand-in smol-init and /bin/true as the runtime: enough to write real
// images without the real kernel.
func fakeAssets(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	kernel := filepath.Join(dir, "vmlinux")
	os.WriteFile(kernel, loadertest.ELF(0x1000000, []byte{0xf4}, true, 4), 0o644)
	initBin := filepath.Join(dir, "smol-init")
	os.WriteFile(initBin, []byte("smol-init stand-in"), 0o755)
	t.Setenv("SMOLVM_KERNEL", kernel)
	t.Setenv("SMOLVM_INIT", initBin)
	t.Setenv("SMOLVM_RUNTIME", "/bin/true")
}

func build(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	if status := Main(append([]string{"build"}, args...), &out, &errb); status != 0 {
		return errb.String(), &buildError{errb.String()}
	}
	return errb.String(), nil
}

type buildError struct{ msg string }

func (e *buildError) Error() string { return e.msg }

func manifestOf(t *testing.T, p string) *image.Manifest {
	t.Helper()
	img, err := image.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// appImage is a two-layer image with a user database, USER nobody,
// WORKDIR /srv and a whited-out file.
func appImage(t *testing.T, cfg v1.Config) v1.Image {
	base := ocitest.Layer(t,
		ocitest.File{Name: "bin/"},
		ocitest.File{Name: "bin/app", Data: []byte("#!/bin/sh\necho hi\n"), Mode: 0o755},
		ocitest.File{Name: "bin/sh", Type: tar.TypeSymlink, Linkname: "app"},
		ocitest.File{Name: "etc/"},
		ocitest.File{Name: "etc/passwd", Data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n")},
		ocitest.File{Name: "etc/group", Data: []byte("root:x:0:\nnogroup:x:65534:\nusers:x:100:nobody\n")},
		ocitest.File{Name: "etc/old", Data: []byte("old")},
	)
	top := ocitest.Layer(t,
		ocitest.File{Name: "etc/.wh.old"},
		ocitest.File{Name: "srv/", Uid: 65534, Gid: 65534},
	)
	return ocitest.Image(t, cfg, base, top)
}

// TestBuildImageSourcesByteIdentical builds the same image from a
// loopback registry, a `docker save` tarball and an OCI layout, with both
// root layouts, and checks the .vm files are byte-identical and the
// manifest carries the image's configuration.
func TestBuildImageSourcesByteIdentical(t *testing.T) {
	fakeAssets(t)
	img := appImage(t, v1.Config{
		Entrypoint: []string{"/bin/app"}, Cmd: []string{"--serve"},
		Env: []string{"PATH=/bin", "MODE=image"}, WorkingDir: "/srv", User: "nobody",
	})
	dir := t.TempDir()
	host := ocitest.Registry(t)
	ocitest.Push(t, host+"/app:1", img)
	saved := filepath.Join(dir, "app.tar")
	ocitest.Save(t, saved, "app:1", img)
	lay := filepath.Join(dir, "layout")
	ocitest.Layout(t, lay, ocitest.Index(t, img))

	for _, root := range []string{"initramfs", "erofs"} {
		t.Run(root, func(t *testing.T) {
			if root == "erofs" && os.Geteuid() != 0 {
				t.Skip("an EROFS root from an image keeps ownership, which needs root")
			}
			var first []byte
			for i, ref := range []string{host + "/app:1", saved, lay, host + "/app:1"} {
				out := filepath.Join(dir, root+strings.Repeat("x", i)+".vm")
				if msg, err := build(t, "-o", out, "--image", ref, "--root", root); err != nil {
					t.Fatalf("build %s: %s", ref, msg)
				}
				b, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				if first == nil {
					first = b
				} else if !bytes.Equal(b, first) {
					t.Errorf("building from %s gave a different file than from the registry", ref)
				}
			}
			m := manifestOf(t, filepath.Join(dir, root+".vm"))
			if !reflect.DeepEqual(m.Entrypoint, []string{"/bin/app"}) || !reflect.DeepEqual(m.Args, []string{"--serve"}) {
				t.Errorf("command %q %q", m.Entrypoint, m.Args)
			}
			if !reflect.DeepEqual(m.User, &protocol.User{UID: 65534, GID: 65534, Groups: []uint32{100}}) {
				t.Errorf("user %+v, want nobody with group users", m.User)
			}
			if m.WorkDir != "/srv" || !reflect.DeepEqual(m.Env, []string{"PATH=/bin", "MODE=image", "HOME=/nonexistent"}) {
				t.Errorf("workdir %q env %q", m.WorkDir, m.Env)
			}
		})
	}
}

// TestBuildImageOverrides: flags override the image's configuration as
// `docker run` options do.
func TestBuildImageOverrides(t *testing.T) {
	fakeAssets(t)
	dir := t.TempDir()
	saved := filepath.Join(dir, "app.tar")
	ocitest.Save(t, saved, "app:1", appImage(t, v1.Config{
		Entrypoint: []string{"/bin/app"}, Cmd: []string{"--serve"}, Env: []string{"MODE=image"}, User: "nobody",
	}))
	for _, tc := range []struct {
		name  string
		args  []string
		check func(*image.Manifest) bool
	}{
		{"args replace CMD", []string{"--", "--once"}, func(m *image.Manifest) bool {
			return reflect.DeepEqual(m.Entrypoint, []string{"/bin/app"}) && reflect.DeepEqual(m.Args, []string{"--once"})
		}},
		{"--entrypoint drops CMD", []string{"--entrypoint", "/bin/sh"}, func(m *image.Manifest) bool {
			return reflect.DeepEqual(m.Entrypoint, []string{"/bin/sh"}) && m.Args == nil
		}},
		{"--env overrides ENV, --workdir WORKDIR", []string{"--env", "MODE=flag", "--env", "HOME=/h", "--workdir", "/tmp"}, func(m *image.Manifest) bool {
			return reflect.DeepEqual(m.Env, []string{"MODE=image", "MODE=flag", "HOME=/h"}) && m.WorkDir == "/tmp"
		}},
		{"--user root", []string{"--user", "root"}, func(m *image.Manifest) bool { return m.User == nil }},
		{"--user uid:gid", []string{"--user", "123:456"}, func(m *image.Manifest) bool {
			return reflect.DeepEqual(m.User, &protocol.User{UID: 123, GID: 456})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, "o.vm")
			if msg, err := build(t, append([]string{"-o", out, "--image", saved, "--root", "initramfs"}, tc.args...)...); err != nil {
				t.Fatal(msg)
			}
			if m := manifestOf(t, out); !tc.check(m) {
				t.Errorf("manifest %+v", m)
			}
		})
	}
}

func TestBuildImageErrors(t *testing.T) {
	fakeAssets(t)
	dir := t.TempDir()
	ghost := filepath.Join(dir, "ghost.tar")
	ocitest.Save(t, ghost, "ghost:1", appImage(t, v1.Config{Entrypoint: []string{"/bin/app"}, User: "ghost"}))
	nocmd := filepath.Join(dir, "nocmd.tar")
	ocitest.Save(t, nocmd, "nocmd:1", appImage(t, v1.Config{}))
	out := filepath.Join(dir, "o.vm")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--image", ghost}, `"ghost": no such user in the image's /etc/passwd`},
		{[]string{"--image", nocmd}, "the image has no ENTRYPOINT or CMD"},
		{[]string{"--image", nocmd, "--tar", nocmd}, "--image and --tar"},
		{[]string{"--image", filepath.Join(dir, "missing.tar")}, "no such file"},
		{[]string{"--binary", "/bin/true", "--add", "x", "--", "true"}, "want SRC:DST"},
	} {
		msg, err := build(t, append([]string{"-o", out}, tc.args...)...)
		if err == nil || !strings.Contains(msg, tc.want) {
			t.Errorf("build %q: %s; want an error containing %q", tc.args, msg, tc.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed build left an image behind")
	}
}

// TestBuildSmolfile builds from a Smolfile whose paths are relative to
// it, with a flag overriding one of its settings, and checks a misspelt
// key is refused with its name and line.
func TestBuildSmolfile(t *testing.T) {
	fakeAssets(t)
	dir := t.TempDir()
	ocitest.Save(t, filepath.Join(dir, "app.tar"), "app:1", appImage(t, v1.Config{Entrypoint: []string{"/bin/app"}}))
	os.WriteFile(filepath.Join(dir, "motd"), []byte("hello"), 0o644)
	sf := filepath.Join(dir, "Smolfile")
	os.WriteFile(sf, []byte(`image = "app.tar"
cmd = ["--once"]
user = "nobody"
workdir = "/srv"
memory = "64M"
cpus = 2
env = ["MODE=smolfile"]
[[add]]
src = "motd"
dst = "/etc/motd"
`), 0o644)
	out := filepath.Join(t.TempDir(), "o.vm")
	t.Chdir(t.TempDir()) // relative paths must not depend on the working directory
	if msg, err := build(t, "-o", out, "-f", sf, "--memory", "96M", "--root", "initramfs"); err != nil {
		t.Fatal(msg)
	}
	m := manifestOf(t, out)
	if m.MemoryMiB != 96 || m.VCPUs != 2 || m.WorkDir != "/srv" || !reflect.DeepEqual(m.Args, []string{"--once"}) ||
		m.User == nil || m.User.UID != 65534 || !reflect.DeepEqual(m.Env, []string{"HOME=/nonexistent", "MODE=smolfile"}) {
		t.Errorf("manifest %+v", m)
	}

	os.WriteFile(sf, []byte("image = \"app.tar\"\nmemroy = \"64M\"\n"), 0o644)
	msg, err := build(t, "-o", out, "-f", sf)
	if err == nil || !strings.Contains(msg, sf+`:2: unknown key "memroy"`) {
		t.Errorf("misspelt key: %s", msg)
	}
}

// TestBuildReproducible builds twice from the same inputs, with the
// inputs' times changed in between, and wants byte-identical files.
func TestBuildReproducible(t *testing.T) {
	fakeAssets(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc", "motd"), []byte("hi"), 0o644)
	os.WriteFile(filepath.Join(dir, "data"), []byte("data"), 0o644)
	for _, layout := range []string{"initramfs", "erofs"} {
		t.Run(layout, func(t *testing.T) {
			if layout == "erofs" && os.Geteuid() != 0 {
				t.Skip("needs root")
			}
			var files [2][]byte
			for i := range files {
				out := filepath.Join(dir, layout+".vm")
				if msg, err := build(t, "-o", out, "--root", layout, "--rootfs", root, "--binary", "/bin/ls",
					"--add", filepath.Join(dir, "data")+":/srv/data", "--", "ls"); err != nil {
					t.Fatal(msg)
				}
				files[i], _ = os.ReadFile(out)
				later := time.Now().Add(time.Duration(i+1) * time.Hour)
				for _, p := range []string{root, filepath.Join(root, "etc", "motd"), filepath.Join(dir, "data")} {
					os.Chtimes(p, later, later)
				}
			}
			if !bytes.Equal(files[0], files[1]) {
				t.Error("same inputs, different .vm files")
			}
		})
	}
}
