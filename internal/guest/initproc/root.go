package initproc

import (
	"errors"
	"fmt"
	"io/fs"
	"time"

	"golang.org/x/sys/unix"

	"github.com/smolvm/smolvm/internal/guest/protocol"
)

// StagingDir is where smol-init assembles a protocol.Root: the directory the
// VMM also puts the configuration in. RootSteps uses, below it:
//
//	lower/      Root.Device, read-only
//	rw/         tmpfs of Root.TmpfsMiB MiB: upper/ and work/ of the overlay
//	root/       the overlay: the program's root directory
const StagingDir = "/.smolvm"

// DefaultTmpfsMiB caps the writable layer when Root.TmpfsMiB is 0.
const DefaultTmpfsMiB = 64

// DefaultDeviceWait is how long smol-init waits for Root.Device to appear in
// devtmpfs. The kernel normally creates the node before PID 1 starts
// (virtio-blk probes synchronously), so the wait costs nothing then.
const DefaultDeviceWait = 2 * time.Second

// RootDir is the program's root directory for a given staging directory.
func RootDir(staging string) string { return staging + "/root" }

// RootSteps assembles r below staging (see StagingDir): wait for the
// device, mount it read-only, put a size-capped tmpfs over it with
// overlayfs, and make /dev, /proc, /sys, /tmp and /run, which Steps have set
// up in the initramfs, visible inside the result by recursive bind mounts
// (so /dev/pts, /dev/shm and the /dev/fd links come along). Mount points
// missing from the image are created in the overlay, that is in the tmpfs;
// the image itself is never written.
//
// The program is then chrooted into RootDir(staging) (Spec.Root), while
// smol-init itself stays in the initramfs with its open descriptors.
func RootSteps(r *protocol.Root, staging string, deviceWait time.Duration) []Step {
	lower, rw, root := staging+"/lower", staging+"/rw", RootDir(staging)
	upper, work := rw+"/upper", rw+"/work"
	size := r.TmpfsMiB
	if size == 0 {
		size = DefaultTmpfsMiB
	}
	var steps []Step
	if r.Booted {
		// The kernel mounted the device as / and smol-init runs from
		// it: / is the lower layer. Overlayfs takes only that mount,
		// not /dev, /proc, ... mounted on it; and the staging
		// directories exist in the image, which is read-only.
		lower = "/"
	} else {
		steps = []Step{
			WaitPath{Path: r.Device, Timeout: deviceWait},
			Dir{lower, 0o755},
			Mount{Source: r.Device, Target: lower, FSType: r.FSType, Flags: unix.MS_RDONLY},
		}
	}
	steps = append(steps,
		// Neither nosuid nor nodev: the program reaches these files
		// only through the overlay, and an image may well contain
		// setuid programs.
		Dir{rw, 0o755},
		Mount{Source: "tmpfs", Target: rw, FSType: "tmpfs", Data: fmt.Sprintf("size=%dm,mode=0755", size)},
		// upper/ becomes the root directory's own inode in the overlay.
		Dir{upper, 0o755},
		Dir{work, 0o700},
		Dir{root, 0o755},
		Mount{Source: "overlay", Target: root, FSType: "overlay",
			Data: "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work},
	)
	for _, d := range []Dir{
		{"/dev", 0o755},
		{"/proc", 0o555},
		{"/sys", 0o555},
		{"/tmp", fs.ModeSticky | 0o777},
		{"/run", 0o755},
	} {
		steps = append(steps, Dir{root + d.Path, d.Mode}, Bind{Source: d.Path, Target: root + d.Path})
	}
	return steps
}

// WaitPath waits until Path exists (a device node devtmpfs may not have
// yet), polling System.Stat for at most Timeout. Only "does not exist" is
// waited out; any other error fails at once.
type WaitPath struct {
	Path    string
	Timeout time.Duration
}

// waitPoll is WaitPath's polling interval.
const waitPoll = 5 * time.Millisecond

func (w WaitPath) Do(sys System) error {
	deadline := time.Now().Add(w.Timeout)
	for {
		_, err := sys.Stat(w.Path)
		if err == nil || !errors.Is(err, fs.ErrNotExist) || !time.Now().Before(deadline) {
			// The step's name already says which path.
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return err
		}
		time.Sleep(waitPoll)
	}
}

func (w WaitPath) String() string { return fmt.Sprintf("wait for %s (up to %v)", w.Path, w.Timeout) }

// Bind makes the tree mounted at Source, submounts included, visible at
// Target too (mount --rbind). The bind keeps the original's mount flags
// (nosuid, noexec, ...). Target must exist.
type Bind struct {
	Source, Target string
}

func (b Bind) Do(sys System) error {
	return sys.Mount(b.Source, b.Target, "", unix.MS_BIND|unix.MS_REC, "")
}

func (b Bind) String() string { return "mount --rbind " + b.Source + " " + b.Target }
