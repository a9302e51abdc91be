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
// through an unnamed file linked into place after fsync. It is used only
// if the directory and the file, checked on the open descriptors (so
// that nothing can be swapped in between), belong to the current user
// and cannot be written by anyone else: the cache is trusted as the
// user's own files are. A malformed entry makes the run decode the
// kernel and the entry is rewritten; an entry whose data no longer
// matches its own digest (checked after the guest has started) stops the
// run and is removed.

// cachedRun is a run whose kernel comes from the cache. Once the guest
// has started (hashing before would take a core from the start-up), the
// image's own kernel part is checked against its digest, and the cache
// entry against its own: a damaged image, or a damaged entry, stops the
// run with smolvm's exit status.
type cachedRun struct {
	file    *os.File
	path    string // the entry's path, for messages
	dir     *os.File
	digest  string
	img     *image.ReadCloser
	started sync.Once
	check   chan error
	waited  sync.Once
	err     error
}

// start begins the checks.
func (c *cachedRun) start() {
	c.started.Do(func() {
		go func() {
			err := c.img.CheckDigest(image.KernelPart)
			if err == nil {
				if bad := loader.VerifyMapped(c.file); bad != nil {
					os.Remove(inDir(c.dir, c.digest))
					err = fmt.Errorf("kernel cache entry %s is damaged (%v); it has been removed, the next run decodes the kernel again", c.path, bad)
				}
			}
			c.check <- err
		}()
	})
}

// verdict waits for the checks, starting them if need be (nil for a run
// without a cached kernel, or when all is intact).
func (c *cachedRun) verdict() error {
	if c == nil {
		return nil
	}
	c.start()
	c.waited.Do(func() { c.err = <-c.check })
	return c.err
}

// close closes the entry and its directory (after verdict).
func (c *cachedRun) close() {
	if c != nil {
		c.file.Close()
		c.dir.Close()
	}
}

// cachedKernel opens the cache entry for the kernel digest.
func cachedKernel(img *image.ReadCloser, dir, digest string) (*cachedRun, error) {
	if !image.ValidDigest(digest) {
		return nil, fmt.Errorf("kernel digest %q", digest)
	}
	d, err := openCacheDir(dir)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(inDir(d, digest), os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		d.Close()
		return nil, err
	}
	path := dir + "/" + digest
	if err := private(f, path, false); err != nil {
		f.Close()
		d.Close()
		return nil, err
	}
	if err := loader.CheckMapped(f); err != nil {
		f.Close()
		d.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &cachedRun{file: f, path: path, dir: d, digest: digest, img: img, check: make(chan error, 1)}, nil
}

// inDir names file in the open directory d, through /proc/self/fd, so
// that it is found in the directory that was checked whatever happens to
// the directory's path meanwhile (openat without its own system call
// wrappers: every byte of the runtime is in every image).
func inDir(d *os.File, file string) string {
	return fmt.Sprintf("/proc/self/fd/%d/%s", d.Fd(), file)
}

// openCacheDir opens the cache directory (a symbolic link to it is
// followed) and checks the open directory.
func openCacheDir(dir string) (*os.File, error) {
	d, err := os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	if err := private(d, dir, true); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// private checks an open file or directory: its type, that it belongs to
// this user, and that no one else can write it.
func private(f *os.File, name string, dir bool) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !ok || fi.IsDir() != dir || !dir && !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file or directory as expected", name)
	case int(st.Uid) != os.Geteuid():
		return fmt.Errorf("%s belongs to uid %d, not to this user", name, st.Uid)
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("%s can be written by others (mode %o)", name, fi.Mode().Perm())
	}
	return nil
}

// fillKernelCache writes the cache entry for img's kernel. The entry is
// written to an unnamed file (O_TMPFILE) and linked into place once
// complete and synced, so a run killed half-way leaves nothing behind and
// a reader never sees a partial entry. Where the file system has no
// O_TMPFILE, nothing is cached.
func fillKernelCache(img *image.ReadCloser, dir, digest string) error {
	if !image.ValidDigest(digest) {
		return fmt.Errorf("kernel digest %q", digest)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	d, err := openCacheDir(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	tmp, err := os.OpenFile(inDir(d, "."), os.O_RDWR|unix.O_TMPFILE, 0o600)
	if err != nil {
		return fmt.Errorf("unnamed file in %s: %w", dir, err)
	}
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
		return unix.Linkat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", tmp.Fd()), int(d.Fd()), digest, unix.AT_SYMLINK_FOLLOW)
	}
	err = link()
	if errors.Is(err, unix.EEXIST) {
		// This run decoded because the entry there was unusable (or
		// another run has just written one): replace it.
		if err := os.Remove(inDir(d, digest)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		err = link()
	}
	return err
}
