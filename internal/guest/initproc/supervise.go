package initproc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/smolvm/smolvm/internal/guest/protocol"
)

// ForwardedSignals are passed on to the program when smol-init receives
// them (see forward for who exactly gets each). Everything else smol-init
// catches is dropped.
var ForwardedSignals = []os.Signal{
	unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2,
}

// CatchSignals is every signal whose Go runtime default would end PID 1 if
// another process sent it with kill(2): the forwarded ones (exit or crash
// by default) plus those the runtime turns into a crash. Main registers them
// all with signal.Notify before anything else. SIGPIPE is included so that
// a broken console cannot kill smol-init through the os package's EPIPE
// handling either.
var CatchSignals = append([]os.Signal{
	unix.SIGABRT, unix.SIGILL, unix.SIGTRAP, unix.SIGSTKFLT, unix.SIGSYS, unix.SIGPIPE,
}, ForwardedSignals...)

// groupSignals are the keyboard signals: like a terminal's ^C and ^\, they go
// to the program's whole process group, so that `sh -c 'a | b'` stops as a
// whole. The others are requests to the program itself, as kill(1), docker
// stop or tini send them; what it started is its business, and whatever
// outlives it is killed when it exits.
var groupSignals = []os.Signal{unix.SIGINT, unix.SIGQUIT}

func isForwarded(s os.Signal) bool {
	for _, f := range ForwardedSignals {
		if s == f {
			return true
		}
	}
	return false
}

// ExitStatus maps a wait status to the 0-255 status smol-init reports, as a
// shell does: a normal exit with code n gives n, death by signal n gives
// 128+n (at most 128+64). Stopped and continued states are never reported
// because wait4 is called without WUNTRACED/WCONTINUED; should one appear
// anyway it maps to 255 rather than pretending success.
func ExitStatus(ws unix.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return 255
}

// Spec describes the program to start.
type Spec struct {
	Argv []string
	Env  []string       // complete environment; its PATH is used to resolve Argv[0]
	Dir  string         // working directory; "" means smol-init's own ("/" with Root)
	User *protocol.User // who the program runs as; nil means root (see credential)

	// Root, if set, is the directory the program is chrooted into
	// (SysProcAttr.Chroot; smol-init itself stays where it is). Dir and
	// Argv[0] are then paths inside Root, resolved as the program will
	// see them (see LookPathIn).
	Root string

	// Stdin, Stdout and Stderr become the program's fds 0, 1 and 2.
	Stdin, Stdout, Stderr *os.File

	// Reaped, if set, is called for each process other than the program
	// that Wait or ReapRemaining reaps, with its ExitStatus.
	Reaped func(pid, status int)
	// Logf, if set, receives one line per forwarded or dropped signal.
	Logf func(format string, args ...any)
}

// Process is a started program. Its methods must be called from a single
// goroutine.
type Process struct {
	Pid  int
	spec Spec
	// chld receives SIGCHLD. Capacity 1: a pending value already means
	// "run a reap pass", so dropping more loses nothing.
	chld chan os.Signal
	// done is set once the program itself has been reaped. After that its
	// pid may be reused, so no signal may be sent to it (see forward).
	done bool
}

// Start resolves spec.Argv[0] with LookPathIn and starts the program in a
// new process group (whose id is the program's pid), chrooted into
// spec.Root if that is set. An error of type *StartError means the program
// could not be executed and carries the shell status (126 or 127); any
// other error is smol-init's own failure (bad Root or Dir, fork failing).
//
// Start registers for SIGCHLD before forking so no exit can be missed;
// Wait unregisters. The caller must reap every child through Wait and
// ReapRemaining only: another wait4 in the same process could steal the
// program's status.
func Start(spec Spec) (*Process, error) {
	if len(spec.Argv) == 0 || spec.Argv[0] == "" {
		return nil, errors.New("start: empty argv")
	}
	v, err := openView(spec.Root)
	if err != nil {
		return nil, err
	}
	defer v.close()
	dir := spec.Dir
	if spec.Root != "" && dir == "" {
		// Never leave the program's cwd outside its root.
		dir = "/"
	}
	if dir != "" {
		mode, err := v.statMode(dir)
		if err != nil {
			return nil, fmt.Errorf("workdir: %w", &fs.PathError{Op: "stat", Path: dir, Err: err})
		}
		if mode&unix.S_IFMT != unix.S_IFDIR {
			return nil, fmt.Errorf("workdir %s: not a directory", dir)
		}
	}
	pathList, ok := Getenv(spec.Env, "PATH")
	if !ok {
		pathList = protocol.DefaultPath
	}
	name := spec.Argv[0]
	file, err := lookPath(v, name, pathList, dir)
	if err != nil {
		return nil, err
	}

	stdin, stdout, stderr := orStd(spec.Stdin, os.Stdin), orStd(spec.Stdout, os.Stdout), orStd(spec.Stderr, os.Stderr)
	// Its own process group, so that ^C and ^\ from the host reach
	// everything it runs in the foreground (see groupSignals). No
	// controlling terminal: see the package documentation.
	// With Chroot the child calls chroot, then chdir(Dir), then execve:
	// Dir and file are inside the new root.
	sys := &syscall.SysProcAttr{Setpgid: true, Chroot: spec.Root, Credential: credential(spec.User)}
	attr := &syscall.ProcAttr{
		Dir:   dir,
		Env:   spec.Env,
		Files: []uintptr{stdin.Fd(), stdout.Fd(), stderr.Fd()},
		Sys:   sys,
	}

	chld := make(chan os.Signal, 1)
	signal.Notify(chld, unix.SIGCHLD)
	pid, err := syscall.ForkExec(file, spec.Argv, attr)
	if err != nil {
		signal.Stop(chld)
		var errno syscall.Errno
		if !errors.As(err, &errno) {
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
		se := startError(name, errno)
		if errno == syscall.ENOENT {
			// LookPath found the file, so ENOENT is about what
			// execve loads on its behalf.
			se.Hint = "missing #! interpreter or dynamic loader?"
		}
		return nil, se
	}
	return &Process{Pid: pid, spec: spec, chld: chld}, nil
}

func orStd(f, std *os.File) *os.File {
	if f != nil {
		return f
	}
	return std
}

// Wait reaps children until the program has exited and returns its
// ExitStatus. Signals received on forward are passed to the program's
// process group if they are in ForwardedSignals, and dropped otherwise;
// forward may be nil. Children other than the program (orphans re-parented
// to PID 1, or to a subreaper in tests) are reaped as their SIGCHLD comes in.
//
// The error is non-nil only if the program can no longer be waited for
// (wait4 says there are no children although it was never reaped), which
// means someone else in this process reaped it.
func (p *Process) Wait(forward <-chan os.Signal) (int, error) {
	defer signal.Stop(p.chld)
	for {
		status, err := p.reap()
		if p.done || err != nil {
			return status, err
		}
		select {
		case <-p.chld:
		case s := <-forward:
			p.forward(s)
		}
	}
}

// reap collects every child that has exited, without blocking.
func (p *Process) reap() (status int, err error) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG|unix.WALL, nil)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.ECHILD && p.done:
			return status, nil
		case err != nil:
			return 0, fmt.Errorf("wait4: %w (program, pid %d, was not reaped)", err, p.Pid)
		case pid == 0:
			return status, nil
		case pid == p.Pid:
			p.done, status = true, ExitStatus(ws)
			// Keep going: other children may be ready too.
		default:
			if p.spec.Reaped != nil {
				p.spec.Reaped(pid, ExitStatus(ws))
			}
		}
	}
}

// forward sends s to the program's process group if it is one of
// groupSignals, else to the program alone; if the program has left its
// group, to the program alone either way. Invariant: only called while
// !p.done, so p.Pid still names our (possibly zombie) child and, as its
// group id, its group.
func (p *Process) forward(s os.Signal) {
	sig, ok := s.(syscall.Signal)
	if !ok || !isForwarded(s) || p.done {
		p.logf("%s: not forwarded", signalName(s))
		return
	}
	if slices.Contains(groupSignals, s) {
		if err := unix.Kill(-p.Pid, sig); err == nil {
			p.logf("forwarded %s to process group %d", signalName(s), p.Pid)
			return
		}
	}
	if err := unix.Kill(p.Pid, sig); err != nil {
		p.logf("forward %s to %d: %v", signalName(s), p.Pid, err)
		return
	}
	p.logf("forwarded %s to process %d", signalName(s), p.Pid)
}

func signalName(s os.Signal) string {
	if sig, ok := s.(syscall.Signal); ok {
		if name := unix.SignalName(sig); name != "" {
			return name
		}
	}
	return s.String()
}

func (p *Process) logf(format string, args ...any) {
	if p.spec.Logf != nil {
		p.spec.Logf(format, args...)
	}
}

// ReapRemaining reaps children until there are none left or timeout has
// passed, and reports whether none are left. It is meant for after the
// program has exited and the rest were killed: a process stuck in
// uninterruptible sleep must not hold up the exit report forever.
func ReapRemaining(timeout time.Duration, reaped func(pid, status int)) bool {
	deadline := time.Now().Add(timeout)
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG|unix.WALL, nil)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.ECHILD:
			return true
		case err != nil:
			return false
		case pid > 0:
			if reaped != nil {
				reaped(pid, ExitStatus(ws))
			}
			continue
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
}
