package vmtest

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Real-kernel boots are slow where guest kernel code is emulated, so
// there are few of them, each checking several things, run two at a time.

const busybox = "/bin/busybox" // Debian's busybox-static

func needBusybox(t *testing.T) {
	if _, err := os.Stat(busybox); err != nil {
		t.Skipf("needs Debian's busybox-static at %s: %v", busybox, err)
	}
}

// TestBootBinary: --binary, default arguments, arguments given to the
// image, exactly the program's output and nothing else; the kernel cache
// (written by a first run, rewritten when damaged, mapped by the next).
func TestBootBinary(t *testing.T) {
	RequireKVM(t)
	bin := Bin(t)
	needBusybox(t)
	img := filepath.Join(t.TempDir(), "hello.vm")
	if r := Run(t, filepath.Join(bin, "smolvm"), "build", "-o", img, "--binary", busybox, "--", "busybox", "echo", "hello"); r.Status != 0 {
		t.Fatalf("build: status %d: %s", r.Status, r.Stderr)
	}
	fresh, damaged := t.TempDir(), t.TempDir()
	digest := kernelDigest(t, filepath.Join(bin, "smolvm"), img)
	if err := os.WriteFile(filepath.Join(damaged, digest), []byte("SMOLKRM2 cut short"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Run("decoded", func(t *testing.T) {
		t.Run("default-args", func(t *testing.T) {
			t.Parallel()
			r, cached := runCached(t, fresh, img)
			if r.Stdout != "hello\n" || r.Status != 0 {
				t.Errorf("./hello.vm: stdout %q status %d, want %q 0; stderr:\n%s", r.Stdout, r.Status, "hello\n", r.Stderr)
			}
			if r.Stderr != "" {
				t.Errorf("stderr not empty (kernel messages leaking?):\n%s", r.Stderr)
			}
			if cached {
				t.Error("first run with an empty kernel cache reports a cached kernel")
			}
		})
		t.Run("args-replace-defaults", func(t *testing.T) {
			t.Parallel()
			r, cached := runCached(t, damaged, img, "echo", "two words", "and", "--flag")
			if want := "two words and --flag\n"; r.Stdout != want || r.Status != 0 {
				t.Errorf("stdout %q status %d, want %q 0; stderr:\n%s", r.Stdout, r.Status, want, r.Stderr)
			}
			if cached {
				t.Error("a damaged kernel cache entry was used")
			}
		})
	})
	for _, dir := range []string{fresh, damaged} {
		st, err := os.Stat(filepath.Join(dir, digest))
		if err != nil || st.Size() < 1<<20 || st.Mode().Perm() != 0o600 {
			t.Fatalf("kernel cache entry after a decoding run: %v, %v", st, err)
		}
	}
	t.Run("cached", func(t *testing.T) {
		r, cached := runCached(t, damaged, img)
		if r.Stdout != "hello\n" || r.Status != 0 || r.Stderr != "" {
			t.Errorf("stdout %q status %d stderr %q, want %q 0 and none", r.Stdout, r.Status, r.Stderr, "hello\n")
		}
		if !cached {
			t.Error("the rewritten kernel cache entry was not used")
		}
	})
}

// runCached runs an image with the kernel cache in dir and reports
// whether the kernel came from it (SMOLVM_TIMINGS).
func runCached(t *testing.T, dir, img string, args ...string) (Result, bool) {
	t.Helper()
	timings := filepath.Join(t.TempDir(), "timings.json")
	cmd := exec.Command(img, args...)
	cmd.Env = append(os.Environ(), "SMOLVM_KERNEL_CACHE="+dir, "SMOLVM_TIMINGS="+timings)
	r := RunCmd(t, cmd)
	var tm struct {
		KernelCached bool `json:"kernel_cached"`
	}
	data, err := os.ReadFile(timings)
	if err != nil || json.Unmarshal(data, &tm) != nil {
		t.Fatalf("timings: %v (stderr %s)", err, r.Stderr)
	}
	return r, tm.KernelCached
}

// kernelDigest is the SHA-256 of img's kernel part, from smolvm inspect.
func kernelDigest(t *testing.T, smolvm, img string) string {
	t.Helper()
	r := Run(t, smolvm, "inspect", img)
	for _, line := range strings.Split(r.Stdout, "\n") {
		if f := strings.Fields(line); len(f) == 5 && f[0] == "kernel" {
			return f[4]
		}
	}
	t.Fatalf("no kernel part in:\n%s", r.Stdout)
	return ""
}

// TestBootRootfs: --rootfs, exit statuses, a file's digest, signals.
func TestBootRootfs(t *testing.T) {
	RequireKVM(t)
	bin := Bin(t)
	needBusybox(t)
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	os.MkdirAll(filepath.Join(root, "data"), 0o755)
	copyFile(t, busybox, filepath.Join(root, "bin", "busybox"), 0o755)
	payload := make([]byte, 256<<10)
	rand.Read(payload)
	if err := os.WriteFile(filepath.Join(root, "data", "blob"), payload, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(payload)
	img := filepath.Join(t.TempDir(), "root.vm")
	if r := Run(t, filepath.Join(bin, "smolvm"), "build", "-o", img, "--rootfs", root,
		"--env", "GREETING=hi there", "--workdir", "/data",
		"--", "busybox", "sh", "-c", "exit 7"); r.Status != 0 {
		t.Fatalf("build: status %d: %s", r.Status, r.Stderr)
	}
	t.Run("exit-7", func(t *testing.T) {
		t.Parallel()
		if r := Run(t, img); r.Status != 7 {
			t.Errorf("status %d, want 7; stderr:\n%s", r.Status, r.Stderr)
		}
	})
	t.Run("killed-by-sigkill", func(t *testing.T) {
		t.Parallel()
		if r := Run(t, img, "sh", "-c", "kill -9 $$"); r.Status != 137 {
			t.Errorf("status %d, want 137; stderr:\n%s", r.Status, r.Stderr)
		}
	})
	t.Run("sha256-env-workdir", func(t *testing.T) {
		t.Parallel()
		// The root is an EROFS image (above the 1 MiB threshold) under a
		// tmpfs overlay: the program can write next to the image's files.
		r := Run(t, img, "sh", "-c", `busybox sha256sum blob; echo "$GREETING"; pwd; echo err >&2; echo new > fresh && busybox cat fresh && busybox mount | busybox grep -c 'overlay on / '`)
		want := hex.EncodeToString(sum[:]) + "  blob\nhi there\n/data\nnew\n1\n"
		if r.Stdout != want || r.Status != 0 {
			t.Errorf("stdout %q status %d, want %q 0; stderr:\n%s", r.Stdout, r.Status, want, r.Stderr)
		}
		if r.Stderr != "err\n" {
			t.Errorf("stderr %q, want %q", r.Stderr, "err\n")
		}
	})
	t.Run("not-found-127", func(t *testing.T) {
		t.Parallel()
		// Replacing the arguments keeps the entrypoint: run a missing
		// program through a fresh image whose entrypoint is missing.
		img2 := filepath.Join(t.TempDir(), "missing.vm")
		if r := Run(t, filepath.Join(bin, "smolvm"), "build", "-o", img2, "--rootfs", root, "--", "no-such-program"); r.Status != 0 {
			t.Fatalf("build: %s", r.Stderr)
		}
		r := Run(t, img2)
		if r.Status != 127 || !strings.Contains(r.Stderr, "no-such-program") {
			t.Errorf("status %d stderr %q, want 127 and a message naming the program", r.Status, r.Stderr)
		}
	})
	t.Run("sigterm-forwarded", func(t *testing.T) {
		t.Parallel()
		cmd := exec.Command(img, "sh", "-c", `trap 'echo got TERM; exit 3' TERM; echo ready; while :; do sleep 1; done`)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(stdout)
		deadline := time.AfterFunc(BootTimeout, func() { cmd.Process.Kill() })
		defer deadline.Stop()
		if !lines.Scan() || lines.Text() != "ready" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("no ready line; stderr:\n%s", stderr.String())
		}
		cmd.Process.Signal(syscall.SIGTERM)
		rest, _ := io.ReadAll(stdout)
		cmd.Wait()
		if got := string(rest); got != "got TERM\n" || cmd.ProcessState.ExitCode() != 3 {
			t.Errorf("after SIGTERM: stdout %q status %d, want %q 3; stderr:\n%s", got, cmd.ProcessState.ExitCode(), "got TERM\n", stderr.String())
		}
	})
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
}
