package launch

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/smolvm/smolvm/internal/image"
	"github.com/smolvm/smolvm/internal/loader"
)

// The kernel cache keeps each image kernel this user has run, decoded
// and laid out for mmap (loader's mapped format), in a directory of the
// user's cache: <dir>/<SHA-256 of the image's kernel part>. A run whose
// kernel is cached maps it into guest memory instead of decoding and
// hashing 8 MB of LZ4: nothing of the kernel is read, copied or hashed
// before the first KVM_RUN, and the guest reads the kernel's pages from
// the host's page cache. The first run of a kernel decodes it as before
// and writes the cache entry alongside the guest's boot.
//
// The entry is named by the digest the image's (verified) table gives
// for the kernel, and written only from data that matched that digest,
// through an unnamed file linked into place after fsync. It is used
// only if the file and its directory belong to the current user and are
// not writable by others: the cache is trusted as the user's own files
// are. Anything wrong with an entry (short, malformed) makes the run
// decode the kernel, and the entry is rewritten.

// cachedRun is a run whose kernel comes from the cache. The image's own
// kernel part is not needed for the boot, but its digest is still
// checked, once the guest has started (hashing 2.6 MB before would take
// a core from the start-up): a damaged image stops its run and fails
// with smolvm's exit status, as it would without the cache.
type cachedRun struct {
	file    *os.File
	img     *image.ReadCloser
	started sync.Once
	check   chan error
	waited  sync.Once
	err     error
}

func newCachedRun(img *image.ReadCloser, f *os.File) *cachedRun {
	return &cachedRun{file: f, img: img, check: make(chan error, 1)}
}

// start begins the check of the image's kernel part.
func (c *cachedRun) start() {
	c.started.Do(func() {
		go func() { c.check <- verifyPart(c.img, image.KernelPart) }()
	})
}

// verdict waits for the check of the image's kernel part, starting it if
// need be (nil for a run without a cached kernel, or an intact part).
func (c *cachedRun) verdict() error {
	if c == nil {
		return nil
	}
	c.start()
	c.waited.Do(func() { c.err = <-c.check })
	return c.err
}

// cachedKernel opens the cache entry for the kernel digest, or returns
// nil.
func cachedKernel(dir, digest string) *os.File {
	if !validDigest(digest) || !ownedPrivate(dir, true) {
		return nil
	}
	f, err := os.Open(dir + "/" + digest)
	if err != nil {
		return nil
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || !ownedPrivate(f.Name(), false) || loader.CheckMapped(f) != nil {
		f.Close()
		return nil
	}
	return f
}

// validDigest reports whether d is a SHA-256 in lowercase hex (it names
// a file: nothing else may get through).
func validDigest(d string) bool {
	if len(d) != 64 {
		return false
	}
	for _, c := range d {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ownedPrivate reports whether path belongs to this user and cannot be
// written by anyone else.
func ownedPrivate(path string, dir bool) bool {
	st, err := os.Lstat(path)
	if err != nil || st.IsDir() != dir {
		return false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && int(sys.Uid) == os.Geteuid() && st.Mode().Perm()&0o022 == 0
}

// fillKernelCache writes the cache entry for img's kernel. The entry is
// written to an unnamed file (O_TMPFILE) and linked into place once
// complete and synced, so a run killed half-way leaves nothing behind and
// a reader never sees a partial entry. Where the file system has no
// O_TMPFILE, nothing is cached.
func fillKernelCache(img *image.ReadCloser, dir, digest string) error {
	if !validDigest(digest) {
		return fmt.Errorf("kernel digest %q", digest)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if !ownedPrivate(dir, true) {
		return fmt.Errorf("%s is not a directory of this user's, closed to others", dir)
	}
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("unnamed file in %s: %w", dir, err)
	}
	tmp := os.NewFile(uintptr(fd), dir)
	defer tmp.Close()
	pr, err := img.OpenPart(image.KernelPart)
	if err != nil {
		return err
	}
	if err := loader.EncodeMapped(tmp, pr); err != nil {
		return err
	}
	// The part's verdict: only data that matched its digest is kept.
	if err := image.ReadFull(pr, nil); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	link := func() error {
		return unix.Linkat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", fd), unix.AT_FDCWD, dir+"/"+digest, unix.AT_SYMLINK_FOLLOW)
	}
	err = link()
	if errors.Is(err, unix.EEXIST) {
		if f := cachedKernel(dir, digest); f != nil {
			f.Close()
			return nil // another run cached it first
		}
		// A damaged or untrusted entry (this run decoded because of
		// it): replace it.
		if err := os.Remove(dir + "/" + digest); err != nil {
			return err
		}
		err = link()
	}
	return err
}
