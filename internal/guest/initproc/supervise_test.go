package initproc

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// These tests start real processes and reap them with wait4(-1), so none of
// them may run in parallel with another test that has children.

func TestMain(m *testing.M) {
	if os.Getenv(chrootHelperEnv) != "" {
		chrootHelper() // the program of TestRunRootChroot; exits
	}
	// SIGQUIT makes children dump core; keep that off the host's disk.
	unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
	os.Exit(m.Run())
}

func TestExitStatus(t *testing.T) {
	tests := []struct {
		name string
		ws   unix.WaitStatus
		want int
	}{
		{"exit 0", 0 << 8, 0},
		{"exit 3", 3 << 8, 3},
		{"exit 255", 255 << 8, 255},
		{"SIGTERM", unix.WaitStatus(unix.SIGTERM), 143},
		{"SIGKILL", unix.WaitStatus(unix.SIGKILL), 137},
		{"SIGINT", unix.WaitStatus(unix.SIGINT), 130},
		{"SIGSEGV with core", unix.WaitStatus(unix.SIGSEGV) | 0x80, 139},
		{"signal 64", 64, 192},
		{"stopped (never reported)", 0x7f | unix.WaitStatus(unix.SIGSTOP)<<8, 255},
	}
	for _, tt := range tests {
		if got := ExitStatus(tt.ws); got != tt.want {
			t.Errorf("%s: ExitStatus(%#x) = %d, want %d", tt.name, uint32(tt.ws), got, tt.want)
		}
	}
}

// run starts argv and waits for it, returning its status.
func run(t *testing.T, spec Spec, forward <-chan os.Signal) int {
	t.Helper()
	p, err := Start(spec)
	if err != nil {
		t.Fatalf("Start(%q): %v", spec.Argv, err)
	}
	return waitFor(t, p, forward)
}

func waitFor(t *testing.T, p *Process, forward <-chan os.Signal) int {
	t.Helper()
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		s, err := p.Wait(forward)
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("Wait: %v", r.err)
		}
		return r.status
	case <-time.After(20 * time.Second):
		unix.Kill(-p.Pid, unix.SIGKILL)
		t.Fatalf("program %d did not finish", p.Pid)
		return 0
	}
}

func sh(script string) Spec {
	return Spec{Argv: []string{"sh", "-c", script}, Env: BuildEnv(nil)}
}

func TestWaitExitCodes(t *testing.T) {
	for _, code := range []int{0, 1, 3, 126, 255} {
		if got := run(t, sh(fmt.Sprintf("exit %d", code)), nil); got != code {
			t.Errorf("exit %d: status %d", code, got)
		}
	}
}

func TestProgramKilledBySignal(t *testing.T) {
	if got := run(t, sh("kill -TERM $$"), nil); got != 143 {
		t.Errorf("kill -TERM $$: status %d, want 143", got)
	}
	if got := run(t, sh("kill -KILL $$"), nil); got != 137 {
		t.Errorf("kill -KILL $$: status %d, want 137", got)
	}
}

func TestForwardedSignals(t *testing.T) {
	for _, s := range ForwardedSignals {
		sig := s.(syscall.Signal)
		t.Run(unix.SignalName(sig), func(t *testing.T) {
			forward := make(chan os.Signal, 1)
			p, err := Start(Spec{Argv: []string{"sleep", "30"}, Env: BuildEnv(nil)})
			if err != nil {
				t.Fatal(err)
			}
			forward <- sig
			if got, want := waitFor(t, p, forward), 128+int(sig); got != want {
				t.Errorf("status %d, want %d", got, want)
			}
		})
	}
}

func TestUnforwardedSignalIsDropped(t *testing.T) {
	forward := make(chan os.Signal, 2)
	// Both would kill sh (status 158 / 141) if they were forwarded.
	forward <- unix.SIGPWR
	forward <- unix.SIGPIPE
	var logged []string
	spec := sh("sleep 1; exit 4")
	spec.Logf = func(format string, args ...any) { logged = append(logged, fmt.Sprintf(format, args...)) }
	if got := run(t, spec, forward); got != 4 {
		t.Errorf("status %d, want 4", got)
	}
	if len(logged) != 2 || !strings.Contains(logged[0], "not forwarded") {
		t.Errorf("log = %q, want two 'not forwarded' lines", logged)
	}
}

func TestForwardTargets(t *testing.T) {
	// The program is sh waiting for a foreground child in its process
	// group. ^C-like signals must reach the child too; the others only
	// the program, as kill(1) would.
	for _, tt := range []struct {
		sig        syscall.Signal
		childDies  bool
		wantStatus int
	}{
		{unix.SIGINT, true, 130},
		{unix.SIGQUIT, true, 131},
		{unix.SIGTERM, false, 143},
		{unix.SIGHUP, false, 129},
	} {
		t.Run(unix.SignalName(tt.sig), func(t *testing.T) {
			pidfile := filepath.Join(t.TempDir(), "pid")
			p, err := Start(sh(`sh -c 'echo $$ > ` + pidfile + `.tmp; mv ` + pidfile + `.tmp ` + pidfile + `; exec sleep 30'; echo not reached`))
			if err != nil {
				t.Fatal(err)
			}
			child := readPid(t, pidfile)
			defer unix.Kill(child, unix.SIGKILL)
			if pgid, _ := unix.Getpgid(child); pgid != p.Pid {
				t.Fatalf("child is in group %d, want the program's group %d", pgid, p.Pid)
			}
			forward := make(chan os.Signal, 1)
			forward <- tt.sig
			if got := waitFor(t, p, forward); got != tt.wantStatus {
				t.Errorf("status %d, want %d", got, tt.wantStatus)
			}
			deadline := time.Now().Add(5 * time.Second)
			for tt.childDies && alive(child) {
				if time.Now().After(deadline) {
					t.Fatal("the program's foreground child survived a group signal")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if !tt.childDies && !alive(child) {
				t.Error("the program's child was signalled too")
			}
		})
	}
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, err := os.ReadFile(path)
		if err == nil {
			pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", path)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the ")" that ends the command name.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestPendingSignalIsDeliveredAfterStart(t *testing.T) {
	// A signal that reached smol-init before the program existed waits in
	// the channel and is forwarded as soon as the program runs.
	forward := make(chan os.Signal, 1)
	forward <- unix.SIGHUP
	if got := run(t, Spec{Argv: []string{"sleep", "30"}, Env: BuildEnv(nil)}, forward); got != 129 {
		t.Errorf("status %d, want 129", got)
	}
}

func TestRealSignalIsForwarded(t *testing.T) {
	// End to end through the runtime: the signal is sent to this process,
	// as the kernel would send it to smol-init, and must end up killing
	// the program.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, CatchSignals...)
	defer signal.Stop(sigs)
	p, err := Start(Spec{Argv: []string{"sleep", "30"}, Env: BuildEnv(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Kill(os.Getpid(), unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got := waitFor(t, p, sigs); got != 143 {
		t.Errorf("status %d, want 143", got)
	}
}

// subreaper makes this test process adopt orphaned descendants, as PID 1
// does in the guest.
func subreaper(t *testing.T) {
	t.Helper()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Skipf("PR_SET_CHILD_SUBREAPER: %v", err)
	}
	t.Cleanup(func() { unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })
}

func TestWaitReapsOrphans(t *testing.T) {
	subreaper(t)
	dir := t.TempDir()
	// The inner sh exits at once, orphaning its background subshell,
	// which we adopt. The program then lets the orphan exit (status 9)
	// and waits until it is gone: kill -0 keeps succeeding on a zombie,
	// so status 7 means Wait reaped the orphan while the program ran.
	spec := sh(`sh -c '(while [ ! -e ` + dir + `/go ]; do sleep 0.01; done; exit 9) & echo $! > ` + dir + `/pid'
		touch ` + dir + `/go
		i=0
		while kill -0 $(cat ` + dir + `/pid) 2>/dev/null; do
			i=$((i+1)); [ $i -gt 2000 ] && exit 8
			sleep 0.01
		done
		exit 7`)
	reaped := map[int]int{}
	spec.Reaped = func(pid, status int) { reaped[pid] = status }
	if got := run(t, spec, nil); got != 7 {
		t.Errorf("status %d, want 7 (8: the orphan was never reaped)", got)
	}
	orphan := readPid(t, dir+"/pid")
	if st, ok := reaped[orphan]; !ok || st != 9 {
		t.Errorf("reaped = %v, want orphan %d with status 9", reaped, orphan)
	}
	if _, err := unix.Wait4(-1, nil, unix.WNOHANG|unix.WALL, nil); err != unix.ECHILD {
		t.Errorf("after Wait: wait4 = %v, want ECHILD (no zombies left)", err)
	}
}

func TestReapRemaining(t *testing.T) {
	subreaper(t)
	dir := t.TempDir()
	// The program exits at once, leaving two adopted orphans behind: one
	// exits when told to, one would run for a minute.
	spec := sh(`(while [ ! -e ` + dir + `/go ]; do sleep 0.01; done) & echo $! > ` + dir + `/short
		sleep 60 & echo $! > ` + dir + `/long`)
	if got := run(t, spec, nil); got != 0 {
		t.Fatalf("status %d", got)
	}
	short, long := readPid(t, dir+"/short"), readPid(t, dir+"/long")
	if err := os.WriteFile(dir+"/go", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var reaped []int
	if ReapRemaining(2*time.Second, func(pid, _ int) { reaped = append(reaped, pid) }) {
		t.Error("ReapRemaining reported all reaped while a sleep 60 was left")
	}
	if len(reaped) != 1 || reaped[0] != short {
		t.Errorf("reaped %v, want [%d]", reaped, short)
	}
	unix.Kill(long, unix.SIGKILL)
	if !ReapRemaining(10*time.Second, func(pid, status int) { reaped = append(reaped, pid, status) }) {
		t.Fatal("killed orphan not reaped")
	}
	if len(reaped) != 3 || reaped[1] != long || reaped[2] != 137 {
		t.Errorf("reaped %v, want the long sleep with status 137", reaped)
	}
}

func TestStartPassesEnvDirAndStdio(t *testing.T) {
	dir := t.TempDir()
	out, err := os.Create(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	spec := Spec{
		Argv:   []string{"sh", "-c", `echo "$0 $1 $GREETING $(pwd -P)"; echo oops >&2`, "arg0", "arg1"},
		Env:    BuildEnv([]string{"GREETING=hello"}),
		Dir:    dir,
		Stdout: out, Stderr: out,
	}
	if got := run(t, spec, nil); got != 0 {
		t.Fatalf("status %d", got)
	}
	realDir, _ := filepath.EvalSymlinks(dir)
	data, _ := os.ReadFile(out.Name())
	if want := "arg0 arg1 hello " + realDir + "\noops\n"; string(data) != want {
		t.Errorf("output %q, want %q", data, want)
	}
}

func TestStartErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	noexec := write("noexec", "#!/bin/sh\n", 0o644)
	garbage := write("garbage", "\x00\x01\x02 not a program", 0o755)
	badInterp := write("badinterp", "#!/nonexistent/interpreter\n", 0o755)
	tests := []struct {
		argv0  string
		status int
		errIs  error
		msg    string
	}{
		{"no-such-command-xyz", 127, ErrNotFound, "no-such-command-xyz: not found"},
		{filepath.Join(dir, "missing"), 127, syscall.ENOENT, filepath.Join(dir, "missing") + ": no such file or directory"},
		{noexec, 126, syscall.EACCES, noexec + ": permission denied"},
		{dir, 126, syscall.EISDIR, dir + ": is a directory"},
		{garbage, 126, syscall.ENOEXEC, garbage + ": exec format error"},
		{badInterp, 127, syscall.ENOENT, badInterp + ": no such file or directory (missing #! interpreter or dynamic loader?)"},
	}
	for _, tt := range tests {
		p, err := Start(Spec{Argv: []string{tt.argv0}, Env: BuildEnv(nil)})
		if err == nil {
			waitFor(t, p, nil)
			t.Errorf("Start(%q) succeeded", tt.argv0)
			continue
		}
		var se *StartError
		if !errors.As(err, &se) || se.Status != tt.status || !errors.Is(err, tt.errIs) || err.Error() != tt.msg {
			t.Errorf("Start(%q) = %v (%T), want status %d, %v, message %q", tt.argv0, err, err, tt.status, tt.errIs, tt.msg)
		}
	}
	// A bad workdir is smol-init's problem, not the program's.
	_, err := Start(Spec{Argv: []string{"true"}, Dir: filepath.Join(dir, "nope")})
	var se *StartError
	if err == nil || errors.As(err, &se) {
		t.Errorf("Start with a missing Dir = %v, want a plain error", err)
	}
}
