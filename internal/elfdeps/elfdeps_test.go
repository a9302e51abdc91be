package elfdeps

import (
	"errors"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// lddNames runs ldd (trusted host binaries only) to cross-check Deps:
// the base names of the libraries it loads, loader included.
func lddNames(t *testing.T, bin string) []string {
	t.Helper()
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		t.Skipf("ldd %s: %v", bin, err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "linux-vdso") {
			continue
		}
		names = append(names, path.Base(f[0]))
	}
	slices.Sort(names)
	return names
}

func TestDepsMatchLdd(t *testing.T) {
	for _, bin := range []string{"/bin/ls", "/usr/bin/jq", "/usr/bin/sqlite3"} {
		t.Run(path.Base(bin), func(t *testing.T) {
			if _, err := os.Stat(bin); err != nil {
				t.Skipf("%s not installed (make deps installs jq and sqlite3)", bin)
			}
			deps, err := Resolver{}.Deps(bin, "/bin/"+path.Base(bin))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, d := range deps {
				names = append(names, path.Base(d.Dst))
				if !path.IsAbs(d.Dst) {
					t.Errorf("guest path %s is not absolute", d.Dst)
				}
				if st, err := os.Lstat(d.Src); err != nil || !st.Mode().IsRegular() {
					t.Errorf("source %s is not a regular file (symlinks must be resolved): %v", d.Src, err)
				}
			}
			if deps[0].Dst != "/lib64/ld-linux-x86-64.so.2" {
				t.Errorf("first dependency %s, want the loader", deps[0].Dst)
			}
			slices.Sort(names)
			if want := lddNames(t, bin); !slices.Equal(names, want) {
				t.Errorf("Deps names %q\nldd names %q", names, want)
			}
		})
	}
}

func TestStaticHasNoDeps(t *testing.T) {
	const busybox = "/bin/busybox"
	if out, err := exec.Command("file", "-L", busybox).Output(); err != nil || !strings.Contains(string(out), "statically linked") {
		t.Skip("no static /bin/busybox (busybox-static)")
	}
	deps, err := Resolver{}.Deps(busybox, "/bin/busybox")
	if err != nil || len(deps) != 0 {
		t.Fatalf("Deps(static) = %v, %v; want nothing", deps, err)
	}
}

func TestNotX8664(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "script")
	os.WriteFile(text, []byte("#!/bin/sh\necho hi\n"), 0o755)
	if _, err := (Resolver{}).Deps(text, "/bin/script"); !errors.Is(err, ErrNotELF) || !strings.Contains(err.Error(), "--binary takes a Linux x86-64 program") {
		t.Errorf("script: err = %v", err)
	}
	// /bin/true with its e_machine changed to AArch64 (183).
	b, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Skip(err)
	}
	b[18], b[19] = 183, 0
	arm := filepath.Join(dir, "arm")
	os.WriteFile(arm, b, 0o755)
	if err := Check(arm); err == nil || !strings.Contains(err.Error(), "EM_AARCH64") || !strings.Contains(err.Error(), "smolvm runs x86-64") {
		t.Errorf("aarch64: err = %v", err)
	}
	if err := Check(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file accepted")
	}
}

// cc compiles C source with gcc, skipping when there is none.
func cc(t *testing.T, out, src string, args ...string) {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not installed (build-essential)")
	}
	c := out + ".c"
	os.WriteFile(c, []byte(src), 0o644)
	cmd := exec.Command("gcc", append([]string{"-o", out, c}, args...)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v: %s", err, msg)
	}
}

// TestOrigin builds a program whose RUNPATH is $ORIGIN/../lib: its
// library is found beside it on the host and placed where $ORIGIN points
// in the guest.
func TestOrigin(t *testing.T) {
	app := t.TempDir()
	os.MkdirAll(filepath.Join(app, "bin"), 0o755)
	os.MkdirAll(filepath.Join(app, "lib"), 0o755)
	cc(t, filepath.Join(app, "lib", "libgreet.so.1"), "int greet(void) { return 42; }", "-shared", "-fPIC", "-Wl,-soname,libgreet.so.1")
	os.Symlink("libgreet.so.1", filepath.Join(app, "lib", "libgreet.so"))
	cc(t, filepath.Join(app, "bin", "hello"), "int greet(void); int main(void) { return greet(); }",
		"-L"+filepath.Join(app, "lib"), "-lgreet", "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib")

	deps, err := Resolver{}.Deps(filepath.Join(app, "bin", "hello"), "/opt/hello/bin/hello")
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, d := range deps {
		if path.Base(d.Dst) == "libgreet.so.1" {
			found = true
			if want := filepath.Join(app, "lib", "libgreet.so.1"); d.Src != want || d.Dst != "/opt/hello/lib/libgreet.so.1" {
				t.Errorf("libgreet: %+v, want Src %s Dst /opt/hello/lib/libgreet.so.1", d, want)
			}
		}
	}
	if !found {
		t.Errorf("libgreet.so.1 not among %+v", deps)
	}

	// Without the library beside it, the error names what is missing.
	os.Remove(filepath.Join(app, "lib", "libgreet.so.1"))
	_, err = Resolver{}.Deps(filepath.Join(app, "bin", "hello"), "/bin/hello")
	if err == nil || !strings.Contains(err.Error(), "needs libgreet.so.1") || !strings.Contains(err.Error(), "--add") {
		t.Errorf("missing library: err = %v", err)
	}
}

// TestLdSoConf searches a root of its own whose /etc/ld.so.conf includes
// a directory: a library found only there goes to GuestLibDir, because
// the guest has no ld.so.cache.
func TestLdSoConf(t *testing.T) {
	root := t.TempDir()
	src := t.TempDir()
	cc(t, filepath.Join(src, "libgreet.so.1"), "int greet(void) { return 42; }", "-shared", "-fPIC", "-Wl,-soname,libgreet.so.1")
	cc(t, filepath.Join(src, "hello"), "int greet(void); int main(void) { return greet(); }", filepath.Join(src, "libgreet.so.1"))

	put := func(dst, from string) {
		t.Helper()
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(root, dst)), 0o755)
		if err := os.WriteFile(filepath.Join(root, dst), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	put("/opt/greet/lib/libgreet.so.1", filepath.Join(src, "libgreet.so.1"))
	put("/lib64/ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2")
	put("/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6")
	os.MkdirAll(filepath.Join(root, "etc/ld.so.conf.d"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/ld.so.conf"), []byte("include /etc/ld.so.conf.d/*.conf\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/ld.so.conf.d/greet.conf"), []byte("# greet\n/opt/greet/lib\n"), 0o644)

	deps, err := Resolver{Root: root}.Deps(filepath.Join(src, "hello"), "/bin/hello")
	if err != nil {
		t.Fatal(err)
	}
	want := []File{
		{filepath.Join(root, "lib64/ld-linux-x86-64.so.2"), "/lib64/ld-linux-x86-64.so.2"},
		{filepath.Join(root, "opt/greet/lib/libgreet.so.1"), GuestLibDir + "/libgreet.so.1"},
		{filepath.Join(root, "usr/lib/x86_64-linux-gnu/libc.so.6"), "/usr/lib/x86_64-linux-gnu/libc.so.6"},
	}
	if !slices.Equal(deps, want) {
		t.Errorf("deps\n%v\nwant\n%v", deps, want)
	}
}
