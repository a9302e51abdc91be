package initproc

import (
	"io/fs"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestStepPlan(t *testing.T) {
	// Every mount target is created before it is mounted, after the
	// filesystem it lives on.
	created := map[string]bool{}
	mounted := map[string]Mount{}
	for _, s := range append(slices.Clone(EarlySteps), Steps...) {
		if o, ok := s.(Optional); ok {
			s = o.Step
		}
		switch s := s.(type) {
		case Dir:
			if strings.HasPrefix(s.Path, "/dev/") && mounted["/dev"].FSType == "" {
				t.Errorf("%v before /dev is mounted", s)
			}
			created[s.Path] = true
		case Mount:
			if !created[s.Target] {
				t.Errorf("%v before its mount point exists", s)
			}
			mounted[s.Target] = s
		}
	}
	want := map[string]struct {
		fstype string
		flags  uintptr
		data   string
	}{
		"/dev":     {"devtmpfs", unix.MS_NOSUID, "mode=0755"},
		"/proc":    {"proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		"/sys":     {"sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		"/dev/pts": {"devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "gid=5,mode=0620,ptmxmode=0666"},
		"/dev/shm": {"tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
		"/tmp":     {"tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
		"/run":     {"tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"},
	}
	for target, w := range want {
		m, ok := mounted[target]
		if !ok || m.FSType != w.fstype || m.Flags != w.flags || m.Data != w.data {
			t.Errorf("%s: got %+v, want %+v", target, m, w)
		}
	}
	if len(mounted) != len(want) {
		t.Errorf("mounts: %v", mounted)
	}
	// Only devpts and the convenience links may fail.
	for _, s := range append(slices.Clone(EarlySteps), Steps...) {
		o, ok := s.(Optional)
		if !ok {
			continue
		}
		switch s := o.Step.(type) {
		case Mount:
			if s.Target != "/dev/pts" {
				t.Errorf("required mount %v marked optional", s)
			}
		case Dir:
			if s.Path != "/dev/pts" {
				t.Errorf("%v marked optional", s)
			}
		}
	}
}

func TestStepStrings(t *testing.T) {
	for _, tt := range []struct {
		s    Step
		want string
	}{
		{Dir{"/tmp", fs.ModeSticky | 0o777}, "mkdir /tmp (01777)"},
		{Dir{"/proc", 0o555}, "mkdir /proc (0555)"},
		{Mount{Source: "proc", Target: "/proc", FSType: "proc", Flags: pseudoFlags}, "mount -t proc -o nosuid,nodev,noexec proc /proc"},
		{Mount{Source: "x", Target: "/x", FSType: "ext4", Flags: unix.MS_RDONLY | unix.MS_SYNCHRONOUS}, "mount -t ext4 -o ro,0x10 x /x"},
		{Mount{Source: "none", Target: "/y", FSType: "tmpfs"}, "mount -t tmpfs none /y"},
		{Optional{Symlink{"/proc/self/fd", "/dev/fd"}}, "symlink /dev/fd -> /proc/self/fd [optional]"},
		{Console{"/dev/console"}, "console /dev/console"},
	} {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestTmpDirModeIsSticky(t *testing.T) {
	for _, s := range Steps {
		if d, ok := s.(Dir); ok && (d.Path == "/tmp" || d.Path == "/dev/shm") && unixMode(d.Mode) != 0o1777 {
			t.Errorf("%s mode %#o, want 01777", d.Path, unixMode(d.Mode))
		}
	}
}
