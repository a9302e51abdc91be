package initproc

import (
	"debug/elf"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smolvm/smolvm/internal/guest/protocol"
)

func TestRootStepsCalls(t *testing.T) {
	// The exact mounts, in order, with their options, as the fake
	// records them: "mount FSTYPE SOURCE TARGET FLAGS DATA".
	binds := func(root string) []string {
		var out []string
		for _, d := range []struct{ path, mode string }{
			{"/dev", "0755"}, {"/proc", "0555"}, {"/sys", "0555"}, {"/tmp", "01777"}, {"/run", "0755"},
		} {
			out = append(out, "mkdir "+root+d.path+" "+d.mode, "mount  "+d.path+" "+root+d.path+" 0x5000 ")
		}
		return out
	}
	tests := []struct {
		name    string
		root    protocol.Root
		staging string
		want    []string
	}{
		{
			name:    "erofs, default tmpfs size",
			root:    protocol.Root{Device: "/dev/vda", FSType: "erofs"},
			staging: "/.smolvm",
			want: append([]string{
				"stat /dev/vda",
				"mkdir /.smolvm/lower 0755",
				"mount erofs /dev/vda /.smolvm/lower 0x1 ",
				"mkdir /.smolvm/rw 0755",
				"mount tmpfs tmpfs /.smolvm/rw 0x0 size=64m,mode=0755",
				"mkdir /.smolvm/rw/upper 0755",
				"mkdir /.smolvm/rw/work 0700",
				"mkdir /.smolvm/root 0755",
				"mount overlay overlay /.smolvm/root 0x0 lowerdir=/.smolvm/lower,upperdir=/.smolvm/rw/upper,workdir=/.smolvm/rw/work",
			}, binds("/.smolvm/root")...),
		},
		{
			name:    "booted from the device: / is the lower layer",
			root:    protocol.Root{Device: "/dev/vda", FSType: "erofs", Booted: true},
			staging: "/.smolvm",
			want: append([]string{
				"mkdir /.smolvm/rw 0755",
				"mount tmpfs tmpfs /.smolvm/rw 0x0 size=64m,mode=0755",
				"mkdir /.smolvm/rw/upper 0755",
				"mkdir /.smolvm/rw/work 0700",
				"mkdir /.smolvm/root 0755",
				"mount overlay overlay /.smolvm/root 0x0 lowerdir=/,upperdir=/.smolvm/rw/upper,workdir=/.smolvm/rw/work",
			}, binds("/.smolvm/root")...),
		},
		{
			name:    "other device, type and size, other staging dir",
			root:    protocol.Root{Device: "/dev/vdb", FSType: "squashfs", TmpfsMiB: 512},
			staging: "/stage",
			want: append([]string{
				"stat /dev/vdb",
				"mkdir /stage/lower 0755",
				"mount squashfs /dev/vdb /stage/lower 0x1 ",
				"mkdir /stage/rw 0755",
				"mount tmpfs tmpfs /stage/rw 0x0 size=512m,mode=0755",
				"mkdir /stage/rw/upper 0755",
				"mkdir /stage/rw/work 0700",
				"mkdir /stage/root 0755",
				"mount overlay overlay /stage/root 0x0 lowerdir=/stage/lower,upperdir=/stage/rw/upper,workdir=/stage/rw/work",
			}, binds("/stage/root")...),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys := &fakeSys{}
			steps := RootSteps(&tt.root, tt.staging, time.Second)
			for _, s := range steps {
				if err := s.Do(sys); err != nil {
					t.Fatalf("%v: %v", s, err)
				}
			}
			if got := sys.log(); !slices.Equal(got, tt.want) {
				t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestRootStepPlan(t *testing.T) {
	steps := RootSteps(&protocol.Root{Device: "/dev/vda", FSType: "erofs"}, StagingDir, DefaultDeviceWait)
	// What the initramfs has mounted by the time RootSteps run.
	initMounts := map[string]bool{}
	for _, s := range append(slices.Clone(EarlySteps), Steps...) {
		if m, ok := s.(Mount); ok {
			initMounts[m.Target] = true
		}
	}
	root := RootDir(StagingDir)
	// Each directory must be created on the filesystem it belongs to:
	// upper/ and work/ on the tmpfs, mount points inside the root on the
	// overlay (else they would be created in the initramfs and hidden).
	mounted := map[string]bool{}
	created := map[string]bool{}
	var bound []string
	for _, s := range steps {
		if _, ok := s.(Optional); ok {
			t.Errorf("%v: every root step is required", s)
		}
		switch s := s.(type) {
		case WaitPath:
			if len(created) > 0 {
				t.Errorf("%v after the first mkdir", s)
			}
		case Dir:
			parent := filepath.Dir(s.Path)
			if parent != StagingDir && !mounted[parent] {
				t.Errorf("%v before %s is mounted", s, parent)
			}
			created[s.Path] = true
		case Mount:
			if !created[s.Target] {
				t.Errorf("%v before its mount point exists", s)
			}
			mounted[s.Target] = true
		case Bind:
			if !created[s.Target] || !mounted[root] {
				t.Errorf("%v before its mount point exists on the overlay", s)
			}
			if !initMounts[s.Source] || s.Target != root+s.Source {
				t.Errorf("%v: not one of smol-init's mounts at the same place in the root", s)
			}
			bound = append(bound, s.Source)
		default:
			t.Errorf("unexpected step %v", s)
		}
	}
	slices.Sort(bound)
	if want := []string{"/dev", "/proc", "/run", "/sys", "/tmp"}; !slices.Equal(bound, want) {
		t.Errorf("bound into the root: %v, want %v", bound, want)
	}
}

func TestRootStepStrings(t *testing.T) {
	steps := RootSteps(&protocol.Root{Device: "/dev/vda", FSType: "erofs", TmpfsMiB: 32}, "/.smolvm", 2*time.Second)
	var got []string
	for _, s := range steps {
		got = append(got, s.String())
	}
	for _, want := range []string{
		"wait for /dev/vda (up to 2s)",
		"mount -t erofs -o ro /dev/vda /.smolvm/lower",
		"mount -t tmpfs -o size=32m,mode=0755 tmpfs /.smolvm/rw",
		"mount -t overlay -o lowerdir=/.smolvm/lower,upperdir=/.smolvm/rw/upper,workdir=/.smolvm/rw/work overlay /.smolvm/root",
		"mount --rbind /dev /.smolvm/root/dev",
		"mkdir /.smolvm/root/tmp (01777)",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("no step %q in:\n%s", want, strings.Join(got, "\n"))
		}
	}
}

func TestWaitPath(t *testing.T) {
	tests := []struct {
		name      string
		missing   int // Stat calls that report ENOENT; -1: all
		timeout   time.Duration
		wantErr   error
		wantStats int // 0: do not check
	}{
		{name: "there at once", missing: 0, timeout: time.Second, wantStats: 1},
		{name: "appears", missing: 3, timeout: 5 * time.Second, wantStats: 4},
		{name: "never appears", missing: -1, timeout: 30 * time.Millisecond, wantErr: syscall.ENOENT},
		{name: "zero timeout still looks once", missing: 0, timeout: 0, wantStats: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys := &fakeSys{missing: map[string]int{"/dev/vda": tt.missing}}
			start := time.Now()
			err := WaitPath{Path: "/dev/vda", Timeout: tt.timeout}.Do(sys)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Do = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				// The step's name carries the path: no "stat /dev/vda:" twice.
				if err.Error() != "no such file or directory" {
					t.Errorf("error %q", err)
				}
				if d := time.Since(start); d < tt.timeout {
					t.Errorf("gave up after %v, before the %v timeout", d, tt.timeout)
				}
			}
			if n := len(sys.log()); tt.wantStats != 0 && n != tt.wantStats {
				t.Errorf("%d stat calls, want %d", n, tt.wantStats)
			}
		})
	}
	t.Run("real: other errors fail at once", func(t *testing.T) {
		start := time.Now()
		err := WaitPath{Path: "/dev/null/x", Timeout: 10 * time.Second}.Do(LinuxSystem{})
		if !errors.Is(err, syscall.ENOTDIR) || time.Since(start) > 5*time.Second {
			t.Errorf("Do = %v after %v, want ENOTDIR at once", err, time.Since(start))
		}
	})
	t.Run("real: file created while waiting", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "vda")
		go func() {
			time.Sleep(30 * time.Millisecond)
			os.WriteFile(p, nil, 0o600)
		}()
		if err := (WaitPath{Path: p, Timeout: 10 * time.Second}).Do(LinuxSystem{}); err != nil {
			t.Errorf("Do = %v", err)
		}
	})
}

// rootFixture makes a directory standing in for the assembled root (the
// fake System mounts nothing):
//
//	usr/bin/tool        executable
//	usr/bin/noexec      mode 0644
//	bin -> usr/bin      relative symlink
//	sbin/abs -> /usr/bin/tool            absolute: valid only inside the root
//	sbin/up -> ../../../../../usr/bin/tool  ".." stops at the root
//	sbin/hostsh -> /bin/sh               exists on the host, not in the root
//	work/run.sh         executable
//	srv/                a directory
func rootFixture(t *testing.T, root string) {
	t.Helper()
	for _, d := range []string{"usr/bin", "sbin", "work", "srv"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name string, mode os.FileMode) {
		p := filepath.Join(root, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\nexit 0\n"), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
	}
	write("usr/bin/tool", 0o755)
	write("usr/bin/noexec", 0o644)
	write("work/run.sh", 0o755)
	for link, target := range map[string]string{
		"bin":         "usr/bin",
		"sbin/abs":    "/usr/bin/tool",
		"sbin/up":     "../../../../../usr/bin/tool",
		"sbin/hostsh": "/bin/sh",
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLookPathIn(t *testing.T) {
	root := t.TempDir()
	rootFixture(t, root)
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("the host has no /bin/sh to not find")
	}
	tests := []struct {
		name, file, dir, path string
		want                  string // resolved path inside the root, or "" for an error
		status                int
		errIs                 error
	}{
		{name: "PATH through a relative symlink", file: "tool", path: "/bin", want: "/bin/tool"},
		{name: "absolute symlink resolved in the root", file: "abs", path: "/sbin", want: "/sbin/abs"},
		{name: "dot-dot stops at the root", file: "up", path: "/sbin", want: "/sbin/up"},
		{name: "host PATH hit is not found", file: "sh", path: "/bin:/usr/bin", status: 127, errIs: ErrNotFound},
		{name: "host file by path is not found", file: "/bin/sh", path: "/nonexistent", status: 127, errIs: syscall.ENOENT},
		{name: "symlink to a host-only file", file: "/sbin/hostsh", status: 127, errIs: syscall.ENOENT},
		{name: "not executable", file: "noexec", path: "/usr/bin", status: 126, errIs: syscall.EACCES},
		{name: "directory", file: "/usr", status: 126, errIs: syscall.EISDIR},
		{name: "relative to the workdir", file: "./run.sh", dir: "/work", want: "/work/run.sh"},
		{name: "empty PATH element is the workdir", file: "run.sh", dir: "/work", path: "/nonexistent:", want: "/work/run.sh"},
		{name: "no workdir means the root's /", file: "usr/bin/tool", want: "/usr/bin/tool"},
		{name: "default PATH", file: "tool", path: protocol.DefaultPath, want: "/usr/bin/tool"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LookPathIn(root, tt.file, tt.path, tt.dir)
			if tt.want != "" {
				if err != nil || got != tt.want {
					t.Fatalf("LookPathIn = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			var se *StartError
			if !errors.As(err, &se) || se.Status != tt.status || !errors.Is(err, tt.errIs) {
				t.Errorf("LookPathIn = %q, %v; want status %d and %v", got, err, tt.status, tt.errIs)
			}
		})
	}
	// A missing root is smol-init's failure, not the program's.
	_, err := LookPathIn(filepath.Join(root, "nope"), "tool", "/bin", "/")
	var se *StartError
	if err == nil || errors.As(err, &se) {
		t.Errorf("LookPathIn with a missing root = %v, want a plain error", err)
	}
}

// rootBoot is a boot with Config.Root: the fake System mounts nothing, so
// the staging directory is a temporary one whose root/ is a real fixture.
func rootBoot(t *testing.T, cfg protocol.Config) (b *bootEnv, root string) {
	t.Helper()
	b = newBoot(t, cfg)
	b.in.StagingDir = filepath.Join(b.dir, "staging")
	root = RootDir(b.in.StagingDir)
	rootFixture(t, root)
	return b, root
}

var testRoot = &protocol.Root{Device: "/dev/vda", FSType: "erofs", TmpfsMiB: 128}

func TestRunRoot(t *testing.T) {
	b, root := rootBoot(t, protocol.Config{Argv: []string{"tool", "arg"}, WorkDir: "/srv", Root: testRoot, Debug: true})
	var spec Spec
	b.in.start = func(s Spec) (*Process, error) {
		// A real chroot needs root (TestRunRootChroot); check what
		// would be started, then start a stand-in.
		spec = s
		return Start(Spec{Argv: []string{"/bin/sh", "-c", "exit 7"}, Stdin: s.Stdin, Stdout: s.Stdout, Stderr: s.Stderr})
	}
	status, err := b.run()
	if err != nil || status != 7 {
		t.Fatalf("Run = %d, %v; want 7, nil; console:\n%s", status, err, b.output())
	}
	if spec.Root != root || spec.Dir != "/srv" || !slices.Equal(spec.Argv, []string{"tool", "arg"}) {
		t.Errorf("started Root %q Dir %q Argv %q; want %q, /srv, [tool arg]", spec.Root, spec.Dir, spec.Argv, root)
	}
	if p, err := LookPathIn(spec.Root, "tool", protocol.DefaultPath, spec.Dir); err != nil || p != "/usr/bin/tool" {
		t.Errorf("tool resolves to %q, %v", p, err)
	}
	calls := b.sys.log()
	st := b.in.StagingDir
	// The root is assembled after the initramfs's own mounts, before the
	// program starts; smol-init itself does not chdir.
	order := []string{
		"mount tmpfs tmpfs /tmp 0x6 mode=1777",
		"stat /dev/vda",
		"mount erofs /dev/vda " + st + "/lower 0x1 ",
		"mount tmpfs tmpfs " + st + "/rw 0x0 size=128m,mode=0755",
		"mount overlay overlay " + root + " 0x0 lowerdir=" + st + "/lower,upperdir=" + st + "/rw/upper,workdir=" + st + "/rw/work",
		"mount  /dev " + root + "/dev 0x5000 ",
		"mount  /run " + root + "/run 0x5000 ",
		marker(protocol.MarkerProgramStart),
		portWrite(protocol.PortExit, 7),
	}
	last := -1
	for _, c := range order {
		i := indexOf(t, calls, c)
		if i < last {
			t.Errorf("%q out of order:\n%s", c, strings.Join(calls, "\n"))
		}
		last = i
	}
	for _, c := range calls {
		if strings.HasPrefix(c, "chdir") {
			t.Errorf("smol-init changed its own directory: %q", c)
		}
	}
	if out := b.output(); !strings.Contains(out, "smol-init: program root "+root+", workdir /srv inside it\n") {
		t.Errorf("debug output lacks the root:\n%s", out)
	}
}

func TestRunWithoutRootIsUnchanged(t *testing.T) {
	b := newBoot(t, protocol.Config{Argv: []string{"true"}})
	b.in.StagingDir = filepath.Join(b.dir, "staging")
	var spec Spec
	b.in.start = func(s Spec) (*Process, error) { spec = s; return Start(s) }
	if status, err := b.run(); err != nil || status != 0 {
		t.Fatalf("Run = %d, %v", status, err)
	}
	if spec.Root != "" || spec.Dir != "/" {
		t.Errorf("started with Root %q, Dir %q; want none, /", spec.Root, spec.Dir)
	}
	calls := b.sys.log()
	indexOf(t, calls, "chdir /")
	for _, c := range calls {
		if strings.HasPrefix(c, "stat ") || strings.Contains(c, b.in.StagingDir) || strings.Contains(c, "overlay") {
			t.Errorf("root step without Config.Root: %q", c)
		}
	}
	if _, err := os.Stat(b.in.StagingDir); err == nil {
		t.Error("staging directory created")
	}
}

func TestRunRootInitErrors(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(f *fakeSys, staging string)
		workdir string
		wantMsg string // with STAGING for the staging directory
		// noCall: a call that must not have been made (the steps stop).
		noCall string
	}{
		{name: "device never appears",
			setup:   func(f *fakeSys, _ string) { f.missing = map[string]int{"/dev/vda": -1} },
			wantMsg: "smol-init: wait for /dev/vda (up to 20ms): no such file or directory\n",
			noCall:  "mkdir STAGING/lower 0755"},
		{name: "filesystem not supported",
			setup:   func(f *fakeSys, st string) { f.failMount = map[string]error{st + "/lower": syscall.ENODEV} },
			wantMsg: "smol-init: mount -t erofs -o ro /dev/vda STAGING/lower: no such device\n",
			noCall:  "mkdir STAGING/rw 0755"},
		{name: "staging dir cannot be made",
			setup:   func(f *fakeSys, st string) { f.failMkdir = map[string]error{st + "/lower": syscall.EROFS} },
			wantMsg: "smol-init: mkdir STAGING/lower (0755): read-only file system\n"},
		{name: "tmpfs fails",
			setup:   func(f *fakeSys, st string) { f.failMount = map[string]error{st + "/rw": syscall.ENOMEM} },
			wantMsg: "smol-init: mount -t tmpfs -o size=128m,mode=0755 tmpfs STAGING/rw: cannot allocate memory\n"},
		{name: "upper dir",
			setup:   func(f *fakeSys, st string) { f.failMkdir = map[string]error{st + "/rw/upper": syscall.ENOSPC} },
			wantMsg: "smol-init: mkdir STAGING/rw/upper (0755): no space left on device\n"},
		{name: "overlay fails",
			setup:   func(f *fakeSys, st string) { f.failMount = map[string]error{RootDir(st): syscall.EINVAL} },
			wantMsg: "smol-init: mount -t overlay -o lowerdir=STAGING/lower,upperdir=STAGING/rw/upper,workdir=STAGING/rw/work overlay STAGING/root: invalid argument\n",
			noCall:  "mkdir STAGING/root/dev 0755"},
		{name: "mount point in the root",
			setup:   func(f *fakeSys, st string) { f.failMkdir = map[string]error{RootDir(st) + "/run": syscall.EIO} },
			wantMsg: "smol-init: mkdir STAGING/root/run (0755): input/output error\n"},
		{name: "bind /dev",
			setup:   func(f *fakeSys, st string) { f.failMount = map[string]error{RootDir(st) + "/dev": syscall.ENOENT} },
			wantMsg: "smol-init: mount --rbind /dev STAGING/root/dev: no such file or directory\n",
			noCall:  "mkdir STAGING/root/proc 0555"},
		{name: "bind /sys",
			setup:   func(f *fakeSys, st string) { f.failMount = map[string]error{RootDir(st) + "/sys": syscall.EINVAL} },
			wantMsg: "smol-init: mount --rbind /sys STAGING/root/sys: invalid argument\n"},
		{name: "bind /tmp",
			setup:   func(f *fakeSys, st string) { f.failMount = map[string]error{RootDir(st) + "/tmp": syscall.EINVAL} },
			wantMsg: "smol-init: mount --rbind /tmp STAGING/root/tmp: invalid argument\n"},
		{name: "workdir missing in the root", workdir: "/bin/sh-is-not-here",
			wantMsg: "smol-init: workdir: stat /bin/sh-is-not-here: no such file or directory\n"},
		{name: "workdir on the host only", workdir: os.TempDir(),
			wantMsg: "smol-init: workdir: stat " + os.TempDir() + ": no such file or directory\n"},
		{name: "workdir is a file", workdir: "/usr/bin/tool",
			wantMsg: "smol-init: workdir /usr/bin/tool: not a directory\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := rootBoot(t, protocol.Config{Argv: []string{"tool"}, WorkDir: tt.workdir, Root: testRoot})
			st := b.in.StagingDir
			b.in.DeviceWait = 20 * time.Millisecond
			if tt.setup != nil {
				tt.setup(b.sys, st)
			}
			started := false
			b.in.start = func(s Spec) (*Process, error) {
				// Start's own checks (workdir) run; with this PATH
				// the program is never found, so never forked.
				s.Env = []string{"PATH=/nonexistent"}
				_, err := Start(s)
				var se *StartError
				if err == nil || errors.As(err, &se) {
					started = true
					return nil, errors.New("Start's checks passed")
				}
				return nil, err
			}
			_, err := b.run()
			var ie initError
			if !errors.As(err, &ie) {
				t.Fatalf("Run error = %v, want an init error", err)
			}
			if started {
				t.Error("the program was started")
			}
			ports := b.sys.ports()
			if len(ports) == 0 || ports[len(ports)-1] != portWrite(protocol.PortInitError, 1) ||
				slices.ContainsFunc(ports, func(s string) bool { return strings.HasPrefix(s, "port 0x600=") }) {
				t.Errorf("port writes = %q, want PortInitError last and no exit status", ports)
			}
			want := strings.ReplaceAll(tt.wantMsg, "STAGING", st)
			if out := b.output(); !strings.HasSuffix(out, want) {
				t.Errorf("console ends with\n%s\nwant\n%s", lastLine(out), want)
			}
			if tt.noCall != "" && slices.Contains(b.sys.log(), strings.ReplaceAll(tt.noCall, "STAGING", st)) {
				t.Errorf("steps went on after the failure: %s", tt.noCall)
			}
		})
	}
}

func lastLine(s string) string {
	s = strings.TrimSuffix(s, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:] + "\n"
}

func TestRunRootPathLookup(t *testing.T) {
	// Argv[0] is looked up in the program's root, not in the initramfs:
	// the host's sh is not found. (Only failures before the fork here: a
	// real start needs chroot, see TestRunRootChroot.)
	tests := []struct {
		argv0   string
		status  byte
		wantMsg string
	}{
		{"sh", 127, "smol-init: sh: not found\n"},
		{"/bin/sh", 127, "smol-init: /bin/sh: no such file or directory\n"},
		{"/sbin/hostsh", 127, "smol-init: /sbin/hostsh: no such file or directory\n"},
		{"noexec", 126, "smol-init: noexec: permission denied\n"},
		{"/srv", 126, "smol-init: /srv: is a directory\n"},
	}
	for _, tt := range tests {
		t.Run(tt.argv0, func(t *testing.T) {
			b, _ := rootBoot(t, protocol.Config{Argv: []string{tt.argv0}, Root: testRoot})
			status, err := b.run()
			if err != nil || status != int(tt.status) {
				t.Fatalf("Run = %d, %v; want %d, nil; console:\n%s", status, err, tt.status, b.output())
			}
			want := []string{marker(protocol.MarkerInitStart), portWrite(protocol.PortExit, tt.status)}
			if got := b.sys.ports(); !slices.Equal(got, want) {
				t.Errorf("port writes = %q, want %q", got, want)
			}
			if out := b.output(); out != tt.wantMsg {
				t.Errorf("console = %q, want %q", out, tt.wantMsg)
			}
		})
	}
}

// chrootHelperEnv makes the test binary act as the program of
// TestRunRootChroot (see TestMain).
const chrootHelperEnv = "SMOLVM_INITPROC_CHROOT_HELPER"

func chrootHelper() {
	cwd, _ := os.Getwd()
	_, err := os.Stat("/marker")
	io.WriteString(os.Stdout, "cwd="+cwd+" marker="+map[bool]string{true: "yes", false: "no"}[err == nil]+"\n")
	os.Exit(3)
}

func TestRunRootChroot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root")
	}
	self, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	if f, err := elf.Open(self); err != nil {
		t.Skip(err)
	} else {
		dynamic := slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP })
		f.Close()
		if dynamic {
			t.Skip("the test binary is dynamically linked; it cannot run alone in a chroot")
		}
	}
	b, root := rootBoot(t, protocol.Config{
		Argv:    []string{"helper"},
		Env:     []string{chrootHelperEnv + "=1", "PATH=/sbin"},
		WorkDir: "/srv",
		Root:    testRoot,
	})
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "usr/bin/helper"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	// Absolute symlink: only right if execve runs inside the root.
	if err := os.Symlink("/usr/bin/helper", filepath.Join(root, "sbin/helper")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "marker"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	status, err := b.run()
	if err != nil || status != 3 {
		t.Fatalf("Run = %d, %v; want 3; console:\n%s", status, err, b.output())
	}
	if out := read(t, b.stdout); out != "cwd=/srv marker=yes\n" {
		t.Errorf("program saw %q, want cwd=/srv and the root's /marker", out)
	}
}

func TestParseConfigRoot(t *testing.T) {
	cfg, err := ParseConfig(strings.NewReader(`{"argv":["/bin/app"],"root":{"device":"/dev/vda","fstype":"erofs","tmpfs_mib":256}}`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Root == nil || *cfg.Root != (protocol.Root{Device: "/dev/vda", FSType: "erofs", TmpfsMiB: 256}) {
		t.Errorf("Root = %+v", cfg.Root)
	}
	cfg, err = ParseConfig(strings.NewReader(`{"argv":["/bin/app"],"root":{"device":"/dev/vda","fstype":"erofs"}}`))
	if err != nil || cfg.Root == nil || cfg.Root.TmpfsMiB != 0 {
		t.Errorf("Root without size = %+v, %v", cfg.Root, err)
	}
	for _, tt := range []struct{ root, want string }{
		{`{"device":"vda","fstype":"erofs"}`, `root: device "vda" is not an absolute path`},
		{`{"fstype":"erofs"}`, `root: device "" is not an absolute path`},
		{`{"device":"/dev/vda"}`, "root: fstype is empty"},
		{`{"device":"/dev/vda\u0000","fstype":"erofs"}`, "root: device contains a NUL byte"},
		{`{"device":"/dev/vda","fstype":"ero\u0000fs"}`, "root: fstype contains a NUL byte"},
		{`{"device":"/dev/vda","fstype":"erofs","tmpfs_mib":-1}`, "root: tmpfs_mib -1 is negative"},
		{`{"device":"/dev/vda","fstype":"erofs","readonly":true}`, `unknown field "readonly"`},
	} {
		_, err := ParseConfig(strings.NewReader(`{"argv":["/bin/app"],"root":` + tt.root + `}`))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("root %s: error = %v, want %q", tt.root, err, tt.want)
		}
	}
}

func TestLinuxSystemStat(t *testing.T) {
	if _, err := (LinuxSystem{}).Stat(filepath.Join(t.TempDir(), "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat of a missing file = %v", err)
	}
	if fi, err := (LinuxSystem{}).Stat("/dev/null"); err != nil || fi.Mode()&fs.ModeDevice == 0 {
		t.Errorf("Stat(/dev/null) = %v, %v", fi, err)
	}
}
