package initproc

import (
	"fmt"
	"io/fs"
	"strings"

	"golang.org/x/sys/unix"
)

// A Step is one piece of filesystem setup. Steps are plain data interpreted
// through a System, so the plan can be printed and tested without a kernel.
type Step interface {
	Do(sys System) error
	String() string
}

// Dir creates a directory (and its parents) if it does not exist. For a
// mount point the mode is mostly invisible (the mounted root has its own),
// but it is what a failed optional mount leaves behind.
type Dir struct {
	Path string
	Mode fs.FileMode
}

func (d Dir) Do(sys System) error { return sys.MkdirAll(d.Path, d.Mode) }
func (d Dir) String() string      { return fmt.Sprintf("mkdir %s (%#o)", d.Path, unixMode(d.Mode)) }

// unixMode returns the permission bits of m as chmod(1) writes them. Go's
// fs.FileMode keeps the sticky bit far from 0o1000, so 0o1777 would be wrong
// in a Dir: write fs.ModeSticky|0o777.
func unixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

// Mount mounts a filesystem; the target must exist (use a Dir step first).
type Mount struct {
	Source, Target, FSType string
	Flags                  uintptr
	Data                   string
}

func (m Mount) Do(sys System) error {
	return sys.Mount(m.Source, m.Target, m.FSType, m.Flags, m.Data)
}

func (m Mount) String() string {
	opts := mountFlagNames(m.Flags)
	if m.Data != "" {
		opts = append(opts, m.Data)
	}
	s := "mount -t " + m.FSType
	if len(opts) > 0 {
		s += " -o " + strings.Join(opts, ",")
	}
	return s + " " + m.Source + " " + m.Target
}

func mountFlagNames(flags uintptr) []string {
	var names []string
	for _, f := range []struct {
		bit  uintptr
		name string
	}{
		{unix.MS_RDONLY, "ro"}, {unix.MS_NOSUID, "nosuid"}, {unix.MS_NODEV, "nodev"},
		{unix.MS_NOEXEC, "noexec"}, {unix.MS_RELATIME, "relatime"},
	} {
		if flags&f.bit != 0 {
			names = append(names, f.name)
			flags &^= f.bit
		}
	}
	if flags != 0 {
		names = append(names, fmt.Sprintf("%#x", flags))
	}
	return names
}

// Symlink creates Link pointing to Target. An existing link with the same
// target is fine (the initramfs may already have it).
type Symlink struct {
	Target, Link string
}

func (s Symlink) Do(sys System) error { return sys.Symlink(s.Target, s.Link) }
func (s Symlink) String() string      { return "symlink " + s.Link + " -> " + s.Target }

// Console (re)opens the console device at Path as fds 0, 1 and 2 (see
// System.AttachConsole). It belongs right after /dev is mounted so that
// every later message has somewhere to go.
type Console struct {
	Path string
}

func (c Console) Do(sys System) error { return sys.AttachConsole(c.Path) }
func (c Console) String() string      { return "console " + c.Path }

// Optional wraps a step whose failure is reported (in debug mode) but does
// not stop the boot: a kernel without devpts still runs most programs.
type Optional struct {
	Step
}

func (o Optional) String() string { return o.Step.String() + " [optional]" }

func isOptional(s Step) bool {
	_, ok := s.(Optional)
	return ok
}

// Mount flags shared by the pseudo filesystems: nothing on them is a setuid
// program, and only /dev holds device nodes.
const (
	pseudoFlags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	tmpfsFlags  = unix.MS_NOSUID | unix.MS_NODEV
)

// EarlySteps run first: /dev, then the console. Everything else needs them:
// messages go to /dev/console and reports to /dev/port. devtmpfs provides
// every device node the kernel knows (console, port, null, zero, random,
// ptmx, virtio disks), so the initramfs needs none of its own.
var EarlySteps = []Step{
	Dir{"/dev", 0o755},
	Mount{Source: "devtmpfs", Target: "/dev", FSType: "devtmpfs", Flags: unix.MS_NOSUID, Data: "mode=0755"},
	Optional{Console{"/dev/console"}},
}

// Steps is the rest of the standard Linux namespace programs expect.
// /proc and /sys are required (ps, mount, most runtimes read them); tmpfs
// on /tmp, /run and /dev/shm is required because programs assume they are
// writable even when the root filesystem is not. devpts and the /dev/fd
// links are optional.
var Steps = []Step{
	Dir{"/proc", 0o555},
	Mount{Source: "proc", Target: "/proc", FSType: "proc", Flags: pseudoFlags},
	Dir{"/sys", 0o555},
	Mount{Source: "sysfs", Target: "/sys", FSType: "sysfs", Flags: pseudoFlags},
	// Since Linux 4.7 every devpts mount is its own instance and
	// /dev/ptmx finds the one on /dev/pts, so no ptmx symlink is needed.
	// gid=5 is the conventional tty group.
	Optional{Dir{"/dev/pts", 0o755}},
	Optional{Mount{Source: "devpts", Target: "/dev/pts", FSType: "devpts", Flags: unix.MS_NOSUID | unix.MS_NOEXEC, Data: "gid=5,mode=0620,ptmxmode=0666"}},
	Dir{"/dev/shm", fs.ModeSticky | 0o777},
	Mount{Source: "shm", Target: "/dev/shm", FSType: "tmpfs", Flags: tmpfsFlags, Data: "mode=1777"},
	Dir{"/run", 0o755},
	Mount{Source: "tmpfs", Target: "/run", FSType: "tmpfs", Flags: tmpfsFlags, Data: "mode=0755"},
	Dir{"/tmp", fs.ModeSticky | 0o777},
	Mount{Source: "tmpfs", Target: "/tmp", FSType: "tmpfs", Flags: tmpfsFlags, Data: "mode=1777"},
	// udev normally creates these; bash process substitution needs /dev/fd.
	Optional{Symlink{"/proc/self/fd", "/dev/fd"}},
	Optional{Symlink{"/proc/self/fd/0", "/dev/stdin"}},
	Optional{Symlink{"/proc/self/fd/1", "/dev/stdout"}},
	Optional{Symlink{"/proc/self/fd/2", "/dev/stderr"}},
	// Programs expect localhost to work (servers that talk to
	// themselves, health checks): bring the loopback up.
	Optional{LinkUp{"lo"}},
}

// LinkUp brings network interface Name up.
type LinkUp struct{ Name string }

func (l LinkUp) Do(sys System) error { return sys.LinkUp(l.Name) }
func (l LinkUp) String() string      { return "ip link set " + l.Name + " up" }
