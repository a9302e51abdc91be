package rootfs

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/u-root/u-root/pkg/cpio"
	"golang.org/x/sys/unix"

	"github.com/smolvm/smolvm/internal/rootfs/layers"
)

// A root filesystem given as a tar file (Spec.Tar): a user's --tar, or the
// flattened layers of an OCI image (package layers). The tar is read twice
// when the layout is chosen automatically (once to size it), so it must
// be a file, not a stream.

// eachTarEntry calls fn for every entry of the tar file at p (plain or
// gzip-compressed) with its cleaned relative name; the root entry itself
// is skipped. fn may read the entry's data from r.
func eachTarEntry(p string, fn func(name string, h *tar.Header, r io.Reader) error) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		defer zr.Close()
		r = zr
	}
	tr := tar.NewReader(r)
	for n := 0; ; n++ {
		h, err := tr.Next()
		if err == io.EOF {
			if n == 0 {
				return fmt.Errorf("%s: an empty tar file (or not a tar file): --tar takes a root filesystem as a tar archive", p)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w: --tar takes a root filesystem as a tar archive (plain or gzip)", p, err)
		}
		name, err := layers.Clean(h.Name)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if name == "" {
			continue
		}
		if err := fn(name, h, tr); err != nil {
			return fmt.Errorf("%s: %s: %w", p, h.Name, err)
		}
	}
}

// tarSize is the bytes of regular files in the tar file at p.
func tarSize(p string) (int64, error) {
	var n int64
	err := eachTarEntry(p, func(_ string, h *tar.Header, _ io.Reader) error {
		if h.Typeflag == tar.TypeReg || h.Typeflag == tar.TypeRegA {
			n += h.Size
		}
		return nil
	})
	return n, err
}

// addTar adds every entry of the tar file at p to the tree, keeping
// modes, numeric ownership and device numbers. A hard link becomes a copy
// of its target: the initramfs has no cheaper way to say it, and the
// auto layout keeps big trees out of the initramfs anyway.
func (t *tree) addTar(p string) error {
	files := map[string]cpio.Record{}
	return eachTarEntry(p, func(name string, h *tar.Header, r io.Reader) error {
		info := cpio.Info{
			Name:   name,
			Mode:   uint64(h.Mode) & 0o7777,
			UID:    uint64(h.Uid),
			GID:    uint64(h.Gid),
			NLink:  1,
			Rmajor: uint64(h.Devmajor),
			Rminor: uint64(h.Devminor),
		}
		var data []byte
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
			b, err := io.ReadAll(r)
			if err != nil {
				return err
			}
			data = b
			info.Mode |= cpio.S_IFREG
		case tar.TypeLink:
			target, err := layers.Clean(h.Linkname)
			if err != nil {
				return err
			}
			rec, ok := files[target]
			if !ok {
				return fmt.Errorf("hard link to %s, which is not an earlier regular file", h.Linkname)
			}
			// Same inode: the target's mode and owner.
			rec.Name = name
			t.ensureParents(name)
			t.recs[name] = rec
			return nil
		case tar.TypeDir:
			info.Mode |= cpio.S_IFDIR
		case tar.TypeSymlink:
			// Linux ignores a symlink's permissions; 0777 is what
			// symlink(2) gives.
			data = []byte(h.Linkname)
			info.Mode = cpio.S_IFLNK | 0o777
		case tar.TypeChar:
			info.Mode |= cpio.S_IFCHR
		case tar.TypeBlock:
			info.Mode |= cpio.S_IFBLK
		case tar.TypeFifo:
			info.Mode |= cpio.S_IFIFO
		default:
			return fmt.Errorf("unsupported tar entry type %q", h.Typeflag)
		}
		info.FileSize = uint64(len(data))
		t.ensureParents(name)
		rec := cpio.StaticRecord(data, info)
		t.recs[name] = rec
		if info.Mode&cpio.S_IFMT == cpio.S_IFREG {
			files[name] = rec
		}
		return nil
	})
}

// extractTar writes every entry of the tar file at p below dir, keeping
// modes, numeric ownership, links and device nodes (smolvm builds as
// root; without root, ownership and device nodes fail with a clear
// error). Entries below a symlink are refused: following it could write
// outside dir.
func extractTar(p, dir string) error {
	return eachTarEntry(p, func(name string, h *tar.Header, r io.Reader) error {
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := checkNoSymlinkParents(dir, name); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		mode := uint32(h.Mode) & 0o7777
		if h.Typeflag != tar.TypeDir {
			// A later entry replaces an earlier one.
			if err := os.Remove(dst); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
			f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, r)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeLink:
			target, err := layers.Clean(h.Linkname)
			if err != nil {
				return err
			}
			// A hard link shares its target's inode, owner and mode.
			return os.Link(filepath.Join(dir, filepath.FromSlash(target)), dst)
		case tar.TypeDir:
			if err := os.Mkdir(dst, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return err
			}
		case tar.TypeSymlink:
			if err := os.Symlink(h.Linkname, dst); err != nil {
				return err
			}
			return os.Lchown(dst, h.Uid, h.Gid)
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			typ := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[h.Typeflag]
			dev := unix.Mkdev(uint32(h.Devmajor), uint32(h.Devminor))
			if err := unix.Mknod(dst, typ|mode, int(dev)); err != nil {
				return fmt.Errorf("mknod: %w (building a root with device nodes needs root)", err)
			}
		default:
			return fmt.Errorf("unsupported tar entry type %q", h.Typeflag)
		}
		if err := os.Lchown(dst, h.Uid, h.Gid); err != nil {
			return fmt.Errorf("chown: %w (building a root with other owners needs root)", err)
		}
		// After chown, which clears set-uid and set-gid bits.
		return os.Chmod(dst, os.FileMode(mode&0o777)|unixModeBits(mode))
	})
}

// unixModeBits maps the set-uid, set-gid and sticky bits to os.FileMode.
func unixModeBits(mode uint32) os.FileMode {
	var m os.FileMode
	if mode&unix.S_ISUID != 0 {
		m |= os.ModeSetuid
	}
	if mode&unix.S_ISGID != 0 {
		m |= os.ModeSetgid
	}
	if mode&unix.S_ISVTX != 0 {
		m |= os.ModeSticky
	}
	return m
}

// checkNoSymlinkParents fails if a directory on the way from dir to name
// (a clean relative path) is a symlink.
func checkNoSymlinkParents(dir, name string) error {
	parts := strings.Split(name, "/")
	cur := dir
	for _, part := range parts[:len(parts)-1] {
		cur = filepath.Join(cur, part)
		st, err := os.Lstat(cur)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if st.Mode()&os.ModeSymlink != 0 {
			rel, _ := filepath.Rel(dir, cur)
			return fmt.Errorf("entry is below /%s, a symlink; put it at the path the symlink points to", filepath.ToSlash(rel))
		}
	}
	return nil
}
