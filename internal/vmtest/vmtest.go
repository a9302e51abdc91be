// Package vmtest runs smolvm as a user would from Go tests: it finds the
// built binaries and guest kernel, builds images with `smolvm build` and
// boots them by executing the image file. Tests that need it skip with a
// clear message where /dev/kvm or the build outputs are missing
// (modelled on u-root's vm_test.go and hugelgupf/vmtest).
package vmtest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BootTimeout bounds one VM run. A boot takes tens of seconds on hosts
// that emulate guest kernel code, milliseconds elsewhere.
const BootTimeout = 8 * time.Minute

// Bin returns the directory holding smolvm, smolvm-runtime, smol-init and
// vmlinux: $SMOLVM_BIN, or bin/ at the repository root.
func Bin(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("SMOLVM_BIN")
	if dir == "" {
		wd, _ := os.Getwd()
		for d := wd; d != "/"; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				dir = filepath.Join(d, "bin")
				break
			}
		}
	}
	for _, f := range []string{"smolvm", "smolvm-runtime", "smol-init", "vmlinux"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Skipf("%s not built (run 'make kernel build' or 'make test'): %v", f, err)
		}
	}
	return dir
}

// RequireKVM skips the test unless /dev/kvm can be opened.
func RequireKVM(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("boots a real kernel; skipped in -short mode")
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("real-kernel boot needs /dev/kvm: %v", err)
	}
	f.Close()
}

// Result is what a command did.
type Result struct {
	Stdout, Stderr string
	Status         int
}

// Run executes name with args and returns its output and exit status; it
// fails the test if the command cannot be started or times out.
func Run(t testing.TB, name string, args ...string) Result {
	t.Helper()
	return RunCmd(t, exec.Command(name, args...))
}

// RunCmd is Run for a prepared command.
func RunCmd(t testing.TB, cmd *exec.Cmd) Result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", cmd.Args, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), BootTimeout)
	defer cancel()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		cmd.Process.Signal(unix.SIGKILL)
		<-done
		t.Fatalf("%v did not finish within %v; stderr:\n%s", cmd.Args, BootTimeout, errb.String())
	}
	status := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		status = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%v: %v", cmd.Args, err)
	}
	return Result{Stdout: out.String(), Stderr: errb.String(), Status: status}
}
