package initproc

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smolvm/smolvm/internal/guest/protocol"
)

// bootEnv is one simulated boot: a fake System, a real config file and real
// files standing in for the serial lines, running real programs.
type bootEnv struct {
	t       *testing.T
	sys     *fakeSys
	in      *Init
	dir     string
	stdout  *os.File // COM1
	console *os.File // COM2: smol-init's messages and the program's stderr
	host    *os.File // write end of the host-signal line
}

func newBoot(t *testing.T, cfg any) *bootEnv {
	t.Helper()
	dir := t.TempDir()
	b := &bootEnv{t: t, sys: &fakeSys{}, dir: dir}
	cfgPath := filepath.Join(dir, "init.json")
	if cfg != nil {
		data, ok := cfg.([]byte)
		if !ok {
			var err error
			if data, err = json.Marshal(cfg); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(cfgPath, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	create := func(name string) *os.File {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	b.stdout, b.console = create("ttyS0"), create("ttyS1")
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { null.Close() })
	sigR, sigW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sigW.Close(); sigR.Close() })
	b.host = sigW
	b.sys.stdio = map[string]*os.File{
		"/dev/null": null, "/dev/ttyS0": b.stdout, "/dev/ttyS1": b.console, "signals": sigR,
	}
	b.in = &Init{
		Sys:        b.sys,
		EarlySteps: EarlySteps,
		Steps:      Steps,
		ConfigPath: cfgPath,
		PortPath:   "/fake/port",
		Console:    b.console,
		StdinPath:  StdinPath,
		StdoutPath: StdoutPath,
		StderrPath: StderrPath,
		SignalPath: "signals",
	}
	return b
}

func read(t *testing.T, f *os.File) string {
	t.Helper()
	data, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// output is what reached the host's stderr.
func (b *bootEnv) output() string { return read(b.t, b.console) }

func (b *bootEnv) run() (int, error) {
	b.t.Helper()
	done := make(chan struct{})
	var status int
	var err error
	go func() {
		defer close(done)
		status, err = b.in.Run()
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		b.t.Fatal("Run did not return")
	}
	return status, err
}

func marker(m byte) string { return portWrite(protocol.PortMarker, m) }

func portWrite(port int64, v byte) string { return fmt.Sprintf("port %#x=%d", port, v) }

func indexOf(t *testing.T, calls []string, want string) int {
	t.Helper()
	i := slices.Index(calls, want)
	if i < 0 {
		t.Fatalf("call %q not made; calls:\n%s", want, strings.Join(calls, "\n"))
	}
	return i
}

func TestRunReportsExitStatusInOrder(t *testing.T) {
	b := newBoot(t, protocol.Config{Argv: []string{"/bin/sh", "-c", "echo out; echo err >&2; exit 5"}})
	status, err := b.run()
	if err != nil || status != 5 {
		t.Fatalf("Run = %d, %v; want 5, nil", status, err)
	}
	wantPorts := []string{marker(1), marker(2), marker(3), portWrite(protocol.PortExit, 5)}
	if got := b.sys.ports(); !slices.Equal(got, wantPorts) {
		t.Errorf("port writes = %q, want %q", got, wantPorts)
	}
	calls := b.sys.log()
	// /dev is mounted before the ports are opened, the rest after the
	// init marker; the config decides hostname; the exit byte comes last,
	// after sync and drain.
	devMount := indexOf(t, calls, "mount devtmpfs devtmpfs /dev 0x2 mode=0755")
	openPorts := indexOf(t, calls, "open ports /fake/port")
	initMarker := indexOf(t, calls, marker(1))
	procMount := indexOf(t, calls, "mount proc proc /proc 0xe ")
	hostname := indexOf(t, calls, "sethostname smolvm")
	sync := indexOf(t, calls, "sync")
	drainOut := indexOf(t, calls, "drain ttyS0")
	drainErr := indexOf(t, calls, "drain ttyS1")
	exit := indexOf(t, calls, portWrite(protocol.PortExit, 5))
	if !(devMount < openPorts && openPorts < initMarker && initMarker < procMount && procMount < hostname &&
		hostname < sync && sync < drainOut && sync < drainErr && drainOut < exit && drainErr < exit && exit == len(calls)-1) {
		t.Errorf("calls out of order:\n%s", strings.Join(calls, "\n"))
	}
	if out := read(t, b.stdout); out != "out\n" {
		t.Errorf("stdout (COM1) = %q, want %q", out, "out\n")
	}
	if out := b.output(); out != "err\n" {
		t.Errorf("stderr (COM2) = %q, want the program's stderr only", out)
	}
}

func TestRunProgramEnvironmentAndWorkdir(t *testing.T) {
	work := t.TempDir()
	b := newBoot(t, protocol.Config{
		Argv:     []string{"sh", "-c", `echo "PATH=$PATH"; echo "HOME=$HOME"; echo "TERM=$TERM"; echo "FOO=$FOO"; echo "PWD=$(pwd -P)"`},
		Env:      []string{"FOO=bar", "TERM=xterm"},
		WorkDir:  work,
		Hostname: "box",
	})
	status, err := b.run()
	if err != nil || status != 0 {
		t.Fatalf("Run = %d, %v; output:\n%s", status, err, b.output())
	}
	realWork, _ := filepath.EvalSymlinks(work)
	want := "PATH=" + protocol.DefaultPath + "\nHOME=/\nTERM=xterm\nFOO=bar\nPWD=" + realWork + "\n"
	if out := read(t, b.stdout); out != want {
		t.Errorf("program saw\n%s\nwant\n%s", out, want)
	}
	calls := b.sys.log()
	indexOf(t, calls, "sethostname box")
	indexOf(t, calls, "chdir "+work)
}

func TestRunInitErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     any // nil: no config file
		setup   func(*fakeSys)
		wantMsg string
		late    bool // fails after the config was read (debug off): no held step log
	}{
		{name: "config missing", cfg: nil, wantMsg: "smol-init: config: open "},
		{name: "unknown field", cfg: []byte(`{"argv":["true"],"cgroup":"/app"}`), wantMsg: `unknown field "cgroup"`},
		{name: "empty argv", cfg: []byte(`{"argv":[]}`), wantMsg: "argv is empty"},
		{name: "required mount fails", cfg: protocol.Config{Argv: []string{"true"}},
			setup:   func(f *fakeSys) { f.failMount = map[string]error{"/proc": syscall.ENODEV} },
			wantMsg: "smol-init: mount -t proc -o nosuid,nodev,noexec proc /proc: no such device"},
		{name: "devtmpfs fails", cfg: protocol.Config{Argv: []string{"true"}},
			setup:   func(f *fakeSys) { f.failMount = map[string]error{"/dev": syscall.ENODEV} },
			wantMsg: "smol-init: mount -t devtmpfs"},
		{name: "workdir missing", cfg: protocol.Config{Argv: []string{"true"}, WorkDir: "/nonexistent-smolvm-dir"},
			wantMsg: "smol-init: workdir: stat /nonexistent-smolvm-dir", late: true},
		{name: "panic", cfg: protocol.Config{Argv: []string{"true"}},
			setup:   func(f *fakeSys) { f.hostnameHook = func(string) error { panic("boom") } },
			wantMsg: "smol-init: internal error: boom", late: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBoot(t, tt.cfg)
			if tt.setup != nil {
				tt.setup(b.sys)
			}
			marker := filepath.Join(b.dir, "ran")
			if c, ok := tt.cfg.(protocol.Config); ok {
				// Prove the program never runs.
				c.Argv = []string{"/bin/sh", "-c", "touch " + marker}
				data, _ := json.Marshal(c)
				os.WriteFile(b.in.ConfigPath, data, 0o644)
			}
			_, err := b.run()
			var ie initError
			if !errors.As(err, &ie) {
				t.Fatalf("Run error = %v, want an init error", err)
			}
			ports := b.sys.ports()
			if len(ports) == 0 || ports[len(ports)-1] != portWrite(protocol.PortInitError, 1) {
				t.Errorf("port writes = %q, want PortInitError last", ports)
			}
			if slices.ContainsFunc(ports, func(s string) bool { return strings.HasPrefix(s, "port 0x600=") }) {
				t.Errorf("exit status reported despite init error: %q", ports)
			}
			out := b.output()
			if !strings.Contains(out, tt.wantMsg) {
				t.Errorf("console = %q, want it to contain %q", out, tt.wantMsg)
			}
			// Held step lines are printed as context for the failure.
			if held := strings.Contains(out, "smol-init: mkdir /dev (0755) ... ok"); held == tt.late {
				t.Errorf("held step log printed = %v, want %v:\n%s", held, !tt.late, out)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Error("the program ran despite the init error")
			}
			calls := b.sys.log()
			if indexOf(t, calls, "drain ttyS1") > indexOf(t, calls, portWrite(protocol.PortInitError, 1)) {
				t.Errorf("drain must precede the init-error report:\n%s", strings.Join(calls, "\n"))
			}
		})
	}
}

func TestRunOptionalStepFailureIsNotFatal(t *testing.T) {
	b := newBoot(t, protocol.Config{Argv: []string{"true"}, Debug: true})
	b.sys.failMount = map[string]error{"/dev/pts": syscall.ENODEV}
	b.sys.failSymlink = syscall.EEXIST
	status, err := b.run()
	if err != nil || status != 0 {
		t.Fatalf("Run = %d, %v; want 0, nil", status, err)
	}
	out := b.output()
	want := "smol-init: mount -t devpts -o nosuid,noexec,gid=5,mode=0620,ptmxmode=0666 devpts /dev/pts [optional] ... failed: no such device\n"
	if !strings.Contains(out, want) {
		t.Errorf("console lacks %q:\n%s", want, out)
	}
}

func TestRunStartFailures(t *testing.T) {
	dir := t.TempDir()
	noexec := filepath.Join(dir, "noexec")
	if err := os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		argv0   string
		status  byte
		wantMsg string
	}{
		{"busybox-not-installed", 127, "smol-init: busybox-not-installed: not found\n"},
		{"/no/such/file", 127, "smol-init: /no/such/file: no such file or directory\n"},
		{noexec, 126, "smol-init: " + noexec + ": permission denied\n"},
		{dir, 126, "smol-init: " + dir + ": is a directory\n"},
	}
	for _, tt := range tests {
		t.Run(tt.argv0, func(t *testing.T) {
			b := newBoot(t, protocol.Config{Argv: []string{tt.argv0}})
			status, err := b.run()
			if err != nil || status != int(tt.status) {
				t.Fatalf("Run = %d, %v; want %d, nil", status, err, tt.status)
			}
			// No program-start/exit markers for a program that never ran.
			want := []string{marker(1), portWrite(protocol.PortExit, tt.status)}
			if got := b.sys.ports(); !slices.Equal(got, want) {
				t.Errorf("port writes = %q, want %q", got, want)
			}
			if out := b.output(); out != tt.wantMsg {
				t.Errorf("console = %q, want %q", out, tt.wantMsg)
			}
		})
	}
}

func TestRunWithoutPortDevicePrintsStatus(t *testing.T) {
	b := newBoot(t, protocol.Config{Argv: []string{"sh", "-c", "exit 42"}})
	b.sys.portsErr = syscall.ENOENT
	status, err := b.run()
	if err != nil || status != 42 {
		t.Fatalf("Run = %d, %v; want 42, nil", status, err)
	}
	want := "smol-init: exit status 42 (cannot report it: /fake/port unavailable)\n"
	if out := b.output(); out != want {
		t.Errorf("console = %q, want %q", out, want)
	}
}

func TestRunDebugLogsSteps(t *testing.T) {
	for _, debug := range []bool{true, false} {
		b := newBoot(t, protocol.Config{Argv: []string{"true"}, Debug: debug})
		if _, err := b.run(); err != nil {
			t.Fatal(err)
		}
		out := b.output()
		lines := []string{
			// Held from before the config was read:
			"smol-init: mount -t devtmpfs -o nosuid,mode=0755 devtmpfs /dev ... ok\n",
			"smol-init: mount -t proc -o nosuid,nodev,noexec proc /proc ... ok\n",
			"smol-init: mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /tmp ... ok\n",
			// Printed directly afterwards:
			"smol-init: sethostname smolvm ... ok\n",
			"smol-init: chdir / ... ok\n",
			"smol-init: program exited: status 0\n",
		}
		for _, l := range lines {
			if strings.Contains(out, l) != debug {
				t.Errorf("debug=%v: console contains %q = %v:\n%s", debug, l, !debug, out)
			}
		}
		if !debug && out != "" {
			t.Errorf("debug=false: console = %q, want nothing", out)
		}
	}
}

func TestRunForwardsSignalToProgram(t *testing.T) {
	sigs := make(chan os.Signal, 1)
	b := newBoot(t, protocol.Config{Argv: []string{"sleep", "30"}})
	b.in.Signals = sigs
	b.sys.onPort = func(port int64, v byte) {
		if port == protocol.PortMarker && v == protocol.MarkerProgramStart {
			sigs <- syscall.SIGTERM
		}
	}
	status, err := b.run()
	if err != nil || status != 128+int(syscall.SIGTERM) {
		t.Fatalf("Run = %d, %v; want 143", status, err)
	}
	if got := b.sys.ports(); got[len(got)-1] != portWrite(protocol.PortExit, 143) {
		t.Errorf("port writes = %q, want exit 143 last", got)
	}
}

func TestPortWriteFormat(t *testing.T) {
	// The helpers above must agree with fakePorts' format.
	if got := portWrite(0x600, 143); got != "port 0x600=143" {
		t.Fatalf("portWrite = %q", got)
	}
}

func TestRunProgramStdinIsEmpty(t *testing.T) {
	// The host sends nothing on stdin: a program reading it must see EOF
	// at once, not hang the VM.
	b := newBoot(t, protocol.Config{Argv: []string{"sh", "-c", "cat; echo cat exited $?; ls -l /proc/self/fd/0"}})
	if status, err := b.run(); err != nil || status != 0 {
		t.Fatalf("Run = %d, %v; stderr:\n%s", status, err, b.output())
	}
	if out := read(t, b.stdout); !strings.HasPrefix(out, "cat exited 0\n") || !strings.HasSuffix(out, "-> /dev/null\n") {
		t.Errorf("stdout = %q, want cat to end at once and fd 0 to be /dev/null", out)
	}
}

func TestRunHostSignalByteReachesProgram(t *testing.T) {
	b := newBoot(t, protocol.Config{Argv: []string{"sh", "-c", `trap 'echo got TERM; exit 3' TERM; echo ready; while :; do sleep 0.05; done`}})
	b.sys.onPort = func(port int64, v byte) {
		if port == protocol.PortMarker && v == protocol.MarkerProgramStart {
			go func() {
				// Wait until the trap is set, then "press" SIGTERM
				// on the host: byte 15 on the signal line, preceded
				// by noise that must be ignored.
				for !strings.Contains(read(t, b.stdout), "ready") {
					time.Sleep(5 * time.Millisecond)
				}
				b.host.Write([]byte{0, 200, byte(syscall.SIGTERM)})
			}()
		}
	}
	status, err := b.run()
	if err != nil || status != 3 {
		t.Fatalf("Run = %d, %v; want 3 (the program's TERM trap)", status, err)
	}
	if out := read(t, b.stdout); out != "ready\ngot TERM\n" {
		t.Errorf("stdout = %q", out)
	}
}

func TestRunFallsBackToConsoleWithoutCOM1(t *testing.T) {
	b := newBoot(t, protocol.Config{Argv: []string{"sh", "-c", "echo to stdout"}})
	delete(b.sys.stdio, "/dev/ttyS0")
	if status, err := b.run(); err != nil || status != 0 {
		t.Fatalf("Run = %d, %v", status, err)
	}
	if out := b.output(); out != "to stdout\n" {
		t.Errorf("console = %q, want the program's stdout there", out)
	}
}

// TestRunConfigFromDiskTail: with no configuration file (the kernel
// booted straight from the root disk), the configuration comes from the
// end of ConfigDisk; a disk without one is smol-init's own failure.
func TestRunConfigFromDiskTail(t *testing.T) {
	b := newBoot(t, nil)
	js, _ := json.Marshal(protocol.Config{Argv: []string{"/bin/sh", "-c", "echo from-disk; exit 3"}})
	tail, err := protocol.DiskConfigTail(1000, js)
	if err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(b.dir, "vda")
	os.WriteFile(disk, append(make([]byte, 1000), tail...), 0o644)
	b.in.ConfigDisk = disk
	status, err := b.run()
	if err != nil || status != 3 || read(t, b.stdout) != "from-disk\n" {
		t.Fatalf("Run = %d, %v, stdout %q; want 3, nil, from-disk", status, err, read(t, b.stdout))
	}

	b = newBoot(t, nil)
	b.in.ConfigDisk = filepath.Join(b.dir, "blank")
	os.WriteFile(b.in.ConfigDisk, make([]byte, 4096), 0o644)
	if _, err := b.run(); err == nil || !strings.Contains(b.output(), "no smolvm configuration") {
		t.Errorf("disk without a configuration: err %v, output %q", err, b.output())
	}
	if got := b.sys.ports(); !slices.Contains(got, portWrite(protocol.PortInitError, 1)) {
		t.Errorf("port writes %q: no init error reported", got)
	}
}
