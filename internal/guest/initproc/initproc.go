package initproc

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/smolvm/smolvm/internal/guest/protocol"
)

// Main is smol-init's entry point; cmd/smol-init exits with its result.
//
// Invariant: Main returns only when it is not PID 1 (it then refuses to do
// anything and returns 2). As PID 1 it reports and reboots, and if the reboot
// fails it sleeps forever, because PID 1 exiting panics the kernel.
func Main() (code int) {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "smol-init: must run as process 1 inside a smolvm guest; refusing to touch this system")
		return 2
	}
	// First thing: catch every signal that would otherwise end the Go
	// runtime (see CatchSignals). The channel also buffers signals sent
	// before the program starts; they are delivered once it runs.
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs, CatchSignals...)

	in := &Init{
		Sys:        LinuxSystem{},
		EarlySteps: EarlySteps,
		Steps:      Steps,
		ConfigPath: protocol.ConfigPath,
		ConfigDisk: protocol.RootDevice,
		StagingDir: StagingDir,
		PortPath:   "/dev/port",
		Console:    os.Stderr,
		StdinPath:  StdinPath,
		StdoutPath: StdoutPath,
		StderrPath: StderrPath,
		SignalPath: SignalPath,
		Signals:    sigs,
	}
	defer func() {
		// Last line of defence; Run recovers its own panics.
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "smol-init: internal error: %v\n", r)
		}
		halt(in.Sys)
	}()
	in.Run()
	return 0 // not reached: the deferred halt never returns
}

// halt reboots and, should that fail, parks PID 1 forever. A sleeping loop,
// not select{}: with no other goroutine runnable the runtime would call the
// latter a deadlock and exit.
func halt(sys System) {
	if err := sys.Reboot(); err != nil {
		fmt.Fprintf(os.Stderr, "smol-init: reboot: %v\n", err)
	}
	for {
		time.Sleep(time.Hour)
	}
}

// The guest's serial lines as the VMM wires them (internal/vmm): COM1 carries
// the program's stdout to the host's stdout; COM2 is the kernel console
// (console=ttyS1) and carries stderr, the program's and smol-init's, to the
// host's stderr, and its receive side carries host signals, one byte each.
// The host sends nothing else, so the program's stdin is /dev/null: reading
// it gives EOF instead of waiting forever (or eating signal bytes).
const (
	StdinPath  = "/dev/null"
	StdoutPath = "/dev/ttyS0"
	StderrPath = "/dev/ttyS1"
	SignalPath = "/dev/ttyS1"
)

// Init is one boot of smol-init. Every OS-facing effect other than starting
// and reaping the program goes through Sys.
type Init struct {
	Sys        System
	EarlySteps []Step // before /dev/port is opened (see EarlySteps)
	Steps      []Step // after MarkerInitStart
	ConfigPath string
	// ConfigDisk is where the configuration is when ConfigPath does not
	// exist: at the end of this device (protocol.DiskConfigTail), as the
	// VMM puts it when the kernel boots straight from a block-device
	// root. "" means only ConfigPath.
	ConfigDisk string
	PortPath   string

	// StagingDir is where a Config.Root is assembled (see RootSteps);
	// "" means StagingDir. DeviceWait bounds the wait for Root.Device
	// (default DefaultDeviceWait).
	StagingDir string
	DeviceWait time.Duration
	// StdioWait bounds the wait for Config.Stdio (DefaultStdioWait).
	StdioWait time.Duration

	// Console receives smol-init's own messages (fd 2, the console).
	Console *os.File

	// The program's stdio, opened with Sys.OpenStdio. Stdout and stderr
	// fall back to Console if their device cannot be opened (a kernel
	// with one UART); stdin falls back to Console only if even /dev/null
	// is missing. SignalPath ("" for none) is read with ReadHostSignals
	// into Signals.
	StdinPath, StdoutPath, StderrPath, SignalPath string

	// Signals delivers the signals smol-init receives, from the kernel
	// (see Main) and from the host; those in ForwardedSignals are passed
	// on to the program. Created by Run if nil.
	Signals chan os.Signal

	// DrainTimeout bounds each console drain (default 2s); ReapTimeout
	// bounds reaping what is left after the program (default 500ms).
	DrainTimeout, ReapTimeout time.Duration

	log    *stepLog
	ports  Ports      // nil if PortPath could not be opened
	drains []*os.File // terminals to drain before reporting

	// start starts the program; nil means Start. Tests that cannot
	// chroot replace it.
	start func(Spec) (*Process, error)
}

// initError is a failure of smol-init itself, reported through PortInitError.
type initError struct{ err error }

func (e initError) Error() string { return e.err.Error() }
func (e initError) Unwrap() error { return e.err }

// Run performs the boot described in the package documentation and reports
// the outcome to the VMM. It returns the program's status, or an error if
// smol-init itself failed (already reported through PortInitError). It
// never panics. It does not reboot; Main does that afterwards.
func (in *Init) Run() (status int, err error) {
	in.log = &stepLog{w: in.Console}
	in.drains = []*os.File{in.Console}
	defer func() {
		if r := recover(); r != nil {
			status, err = in.fail(fmt.Errorf("internal error: %v", r))
		}
	}()

	earlyErr := in.runSteps(in.EarlySteps)
	// Open the port device even if devtmpfs failed: the initramfs may
	// have its own /dev/port, and an init error is worth reporting.
	ports, err := in.Sys.OpenPorts(in.PortPath)
	if err != nil {
		in.log.stepf("open %s ... failed: %v (no reports to the VMM)", in.PortPath, err)
	} else {
		in.ports = ports
		in.log.stepf("open %s ... ok", in.PortPath)
	}
	if earlyErr != nil {
		return in.fail(earlyErr)
	}
	in.marker(protocol.MarkerInitStart)
	if err := in.runSteps(in.Steps); err != nil {
		return in.fail(err)
	}

	cfg, from, err := in.readConfig()
	if err != nil {
		return in.fail(err)
	}
	in.log.decide(cfg.Debug)
	in.log.stepf("config %s ... ok: argv %q", from, cfg.Argv)

	hostname := cfg.Hostname
	if hostname == "" {
		hostname = "smolvm"
	}
	if err := in.do("sethostname "+hostname, func() error { return in.Sys.Sethostname(hostname) }); err != nil {
		return in.fail(err)
	}
	workdir := cfg.WorkDir
	if workdir == "" {
		workdir = "/"
	}
	root := ""
	if cfg.Root != nil {
		staging := in.StagingDir
		if staging == "" {
			staging = StagingDir
		}
		steps := RootSteps(cfg.Root, staging, orDefault(in.DeviceWait, DefaultDeviceWait))
		if err := in.runSteps(steps); err != nil {
			return in.fail(err)
		}
		// smol-init stays in the initramfs: only the program is
		// chrooted, and Start checks workdir inside its root.
		root = RootDir(staging)
		in.log.stepf("program root %s, workdir %s inside it", root, workdir)
	} else if err := in.do("chdir "+workdir, func() error { return in.Sys.Chdir(workdir) }); err != nil {
		return in.fail(fmt.Errorf("workdir: %w", err))
	}
	env := BuildEnv(cfg.Env)
	in.log.stepf("environment: %s (values not shown)", strings.Join(envKeys(env), " "))

	stdinPath, stdoutPath, stderrPath := in.StdinPath, in.StdoutPath, in.StderrPath
	if s := cfg.Stdio; s != nil && in.waitStdio(s) {
		stdinPath, stdoutPath, stderrPath = s.Stdin, s.Stdout, s.Stderr
	}
	stdin := in.openStdio("stdin", stdinPath)
	stdout := in.openStdio("stdout", stdoutPath)
	stderr := in.openStdio("stderr", stderrPath)
	if in.Signals == nil {
		in.Signals = make(chan os.Signal, 32)
	}
	if in.SignalPath != "" {
		// Started before the program so that host signals sent during
		// boot wait in Signals and are delivered once it runs.
		f, err := in.Sys.OpenStdio(in.SignalPath)
		if err != nil {
			in.log.stepf("host signals from %s ... failed: %v", in.SignalPath, err)
		} else {
			in.log.stepf("host signals from %s ... ok", in.SignalPath)
			go ReadHostSignals(f, in.Signals)
		}
	}

	start := in.start
	if start == nil {
		start = Start
	}
	p, err := start(Spec{
		Argv: cfg.Argv, Env: env, Dir: workdir, Root: root, User: cfg.User,
		Stdin: stdin, Stdout: stdout, Stderr: stderr,
		Reaped: func(pid, status int) {
			in.log.stepf("reaped orphan %d: status %d", pid, status)
		},
		Logf: in.log.stepf,
	})
	var se *StartError
	switch {
	case errors.As(err, &se):
		in.log.errorf("%v", se)
		return in.finish(se.Status), nil
	case err != nil:
		return in.fail(err)
	}
	in.log.stepf("started %s (pid %d)", cfg.Argv[0], p.Pid)
	in.marker(protocol.MarkerProgramStart)

	status, err = p.Wait(in.Signals)
	if err != nil {
		return in.fail(err)
	}
	in.marker(protocol.MarkerProgramExit)
	in.log.stepf("program exited: status %d", status)

	// Like a container whose init exits: whatever the program left
	// behind dies now, so that nothing writes to the disks after the
	// sync or to the console after the drain.
	if err := in.Sys.KillAll(); err == nil {
		if !ReapRemaining(orDefault(in.ReapTimeout, 500*time.Millisecond), nil) {
			in.log.stepf("some processes did not die in time")
		}
	}
	return in.finish(status), nil
}

// readConfig reads the run configuration: the file the VMM put in the
// initramfs, or, when there is none, the tail of the root disk. It
// returns where the configuration came from.
func (in *Init) readConfig() (*protocol.Config, string, error) {
	cfg, err := ReadConfig(in.ConfigPath)
	if err == nil || in.ConfigDisk == "" || !errors.Is(err, fs.ErrNotExist) {
		return cfg, in.ConfigPath, err
	}
	cfg, err = ReadDiskConfig(in.ConfigDisk)
	return cfg, in.ConfigDisk + " (end of disk)", err
}

// finish reports the program's status: sync, drain, then the status byte,
// because the VMM ends the VM the moment that byte arrives.
func (in *Init) finish(status int) int {
	in.Sys.Sync()
	if in.ports == nil {
		// The VMM will only see the reset; at least a person sees this.
		in.log.errorf("exit status %d (cannot report it: %s unavailable)", status, in.PortPath)
	}
	in.drain()
	if in.ports != nil {
		if err := in.ports.WritePort(protocol.PortExit, byte(status)); err != nil {
			in.log.errorf("report exit status %d: %v", status, err)
			in.drain()
		}
	}
	return status
}

// fail reports a failure of smol-init itself: message, drain, then
// PortInitError (the VMM stops at that write).
func (in *Init) fail(err error) (int, error) {
	in.log.decide(true) // held step lines are the context for the error
	in.log.errorf("%v", err)
	in.Sys.Sync()
	in.drain()
	if in.ports != nil {
		if werr := in.ports.WritePort(protocol.PortInitError, 1); werr != nil {
			in.log.errorf("report init error: %v", werr)
			in.drain()
		}
	}
	return 0, initError{err}
}

// drain waits for the output of every terminal smol-init or the program
// writes to, so that nothing is lost when the VMM stops the VM.
func (in *Init) drain() {
	for _, f := range in.drains {
		if err := in.Sys.Drain(f, orDefault(in.DrainTimeout, 2*time.Second)); err != nil {
			in.log.stepf("drain %s: %v", f.Name(), err)
		}
	}
}

// DefaultStdioWait bounds the wait for Config.Stdio's devices. The
// console driver adds its ports from a workqueue after the host answers
// its DEVICE_READY, normally long before PID 1 starts.
const DefaultStdioWait = 5 * time.Second

// waitStdio waits for the devices of s and reports whether all appeared.
func (in *Init) waitStdio(s *protocol.Stdio) bool {
	for _, p := range []string{s.Stdin, s.Stdout, s.Stderr} {
		w := WaitPath{Path: p, Timeout: orDefault(in.StdioWait, DefaultStdioWait)}
		if in.do(w.String(), func() error { return w.Do(in.Sys) }) != nil {
			in.log.stepf("program stdio on the serial lines")
			return false
		}
	}
	return true
}

// openStdio opens one of the program's stdio files, falling back to the
// console.
func (in *Init) openStdio(what, path string) *os.File {
	f, err := in.Sys.OpenStdio(path)
	if err != nil {
		in.log.stepf("%s %s ... failed: %v (using the console)", what, path, err)
		return in.Console
	}
	in.log.stepf("%s %s ... ok", what, path)
	in.drains = append(in.drains, f)
	return f
}

func (in *Init) marker(m byte) {
	if in.ports == nil {
		return
	}
	if err := in.ports.WritePort(protocol.PortMarker, m); err != nil {
		in.log.stepf("marker %d: %v", m, err)
	}
}

// runSteps runs steps in order. A failing required step stops the boot; a
// failing Optional one is only logged.
func (in *Init) runSteps(steps []Step) error {
	for _, s := range steps {
		err := in.do(s.String(), func() error { return s.Do(in.Sys) })
		if err != nil && !isOptional(s) {
			return fmt.Errorf("%v: %w", s, err)
		}
	}
	return nil
}

// do runs f and logs "smol-init: what ... ok" or "... failed: err".
func (in *Init) do(what string, f func() error) error {
	err := f()
	if err != nil {
		in.log.stepf("%s ... failed: %v", what, err)
	} else {
		in.log.stepf("%s ... ok", what)
	}
	return err
}

func envKeys(env []string) []string {
	keys := make([]string, len(env))
	for i, kv := range env {
		keys[i], _, _ = strings.Cut(kv, "=")
	}
	return keys
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// stepLog prints smol-init's messages. Error lines are always printed.
// Step lines are printed only in debug mode, which is not known until the
// configuration has been read: until decide is called they are held in
// memory, then printed or dropped.
type stepLog struct {
	w       io.Writer
	decided bool
	debug   bool
	held    []string
}

func (l *stepLog) stepf(format string, args ...any) {
	line := "smol-init: " + fmt.Sprintf(format, args...) + "\n"
	switch {
	case !l.decided:
		l.held = append(l.held, line)
	case l.debug:
		io.WriteString(l.w, line)
	}
}

func (l *stepLog) errorf(format string, args ...any) {
	io.WriteString(l.w, "smol-init: "+fmt.Sprintf(format, args...)+"\n")
}

func (l *stepLog) decide(debug bool) {
	if l.decided {
		return
	}
	l.decided, l.debug = true, debug
	if debug {
		io.WriteString(l.w, strings.Join(l.held, ""))
	}
	l.held = nil
}
