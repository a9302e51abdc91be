// Package runner is the process-level glue for running an image, shared
// by the smolvm CLI and the slim image runtime: the environment becomes
// launch.Options, failures become smolvm's own exit status, and an
// executable can tell whether it carries an image. It imports no CLI
// library, so the runtime in every image stays small.
package runner

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/smolvm/smolvm/internal/image"
	"github.com/smolvm/smolvm/internal/launch"
	"github.com/smolvm/smolvm/internal/vmm"
)

// RunOptions are the run-time settings taken from the environment, for
// both `smolvm run` and an image run directly.
//
//	SMOLVM_DEBUG=1          kernel and smol-init messages on stderr
//	SMOLVM_COMPAT=auto|on|off  emulating-host command line (default auto)
//	SMOLVM_TIMINGS=FILE     write the run's timings as JSON to FILE
//	SMOLVM_KERNEL_CACHE=DIR|off  the kernel cache (default
//	                        $SMOLVM_CACHE/run-kernels, SMOLVM_CACHE being
//	                        $XDG_CACHE_HOME/smolvm or ~/.cache/smolvm; none
//	                        for root with another user's HOME, as under sudo)
func RunOptions(stdout, stderr io.Writer) (launch.Options, func(), error) {
	o := launch.Options{Stdout: stdout, Stderr: stderr, KernelCache: KernelCacheDir()}
	// The program reads the host's stdin when it is a pipe or a file, as
	// it would natively. A terminal stays with the host and the program
	// sees end of file: reading a terminal from a background job would
	// stop the whole VM with SIGTTIN, and interactive use wants a TTY in
	// the guest, not a line of bytes.
	if _, err := unix.IoctlGetTermios(int(os.Stdin.Fd()), unix.TCGETS); err != nil {
		o.Stdin = os.Stdin
	}
	o.Debug = truthy(os.Getenv("SMOLVM_DEBUG"))
	switch c := os.Getenv("SMOLVM_COMPAT"); c {
	case "", "auto":
		o.Compat = vmm.CompatAuto
	case "on", "1", "true":
		o.Compat = vmm.CompatAlways
	case "off", "0", "false":
		o.Compat = vmm.CompatNever
	default:
		return o, nil, fmt.Errorf("SMOLVM_COMPAT=%q: want auto, on or off", c)
	}
	closeFn := func() {}
	if p := os.Getenv("SMOLVM_TIMINGS"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			return o, nil, fmt.Errorf("SMOLVM_TIMINGS: %w", err)
		}
		o.Timings = f
		closeFn = func() { f.Close() }
	}
	return o, closeFn, nil
}

func truthy(s string) bool {
	b, err := strconv.ParseBool(s)
	return err == nil && b
}

// RunImage boots the image at path with args and returns the exit status,
// reporting smolvm's own failures on stderr with ExitFailure.
func RunImage(path string, args []string, stdout, stderr io.Writer) int {
	return RunImageWith(path, args, nil, stdout, stderr)
}

// RunImageWith is RunImage with extra disks.
func RunImageWith(path string, args []string, disks []launch.DiskSpec, stdout, stderr io.Writer) int {
	o, closeFn, err := RunOptions(stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "smolvm: %v\n", err)
		return launch.ExitFailure
	}
	defer closeFn()
	o.Args = args
	o.Disks = disks
	status, err := launch.Run(path, o)
	if err != nil {
		fmt.Fprintf(stderr, "smolvm: %v\n", err)
		return launch.ExitFailure
	}
	return status
}

// SelfImage reports whether the running executable carries an image,
// and its path. Only the executable's end (and, when there is no trailer,
// its ELF headers) is read. An executable that holds image data without
// its trailer (a file cut short) is reported as an error.
func SelfImage() (string, bool, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", false, nil
	}
	f, err := os.Open(exe)
	if err != nil {
		return "", false, nil
	}
	defer f.Close()
	ok, err := image.Classify(f)
	return exe, ok, err
}

// KernelCacheDir is the kernel cache directory the environment asks for,
// or "" for none (SMOLVM_KERNEL_CACHE=off, or no home directory).
func KernelCacheDir() string {
	switch d := os.Getenv("SMOLVM_KERNEL_CACHE"); d {
	case "off", "0", "false":
		return ""
	case "":
	default:
		return d
	}
	base := os.Getenv("SMOLVM_CACHE")
	if base == "" {
		c, err := os.UserCacheDir()
		if err != nil || sudoHome() {
			return ""
		}
		base = filepath.Join(c, "smolvm")
	}
	return filepath.Join(base, "run-kernels")
}

// sudoHome reports a root process with another user's home (sudo keeps
// HOME): creating root-owned directories in that user's ~/.cache would
// leave it unwritable to them, so such a run keeps no cache.
func sudoHome() bool {
	if os.Geteuid() != 0 {
		return false
	}
	var st unix.Stat_t
	return unix.Stat(os.Getenv("HOME"), &st) == nil && st.Uid != 0
}
