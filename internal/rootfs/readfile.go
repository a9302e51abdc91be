package rootfs

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ReadFile returns the contents of the file at name (an absolute guest
// path) in the root spec describes, as the later layer wins: Dir over
// Tar. The builder reads the root's /etc/passwd and /etc/group with it to
// resolve a USER. A missing file gives an error matching fs.ErrNotExist.
// Symlinks are followed only in Dir, and only while they stay inside it.
func (s Spec) ReadFile(name string) ([]byte, error) {
	rel := strings.TrimPrefix(filepath.Clean("/"+name), "/")
	if s.Dir != "" {
		b, err := readInDir(s.Dir, rel)
		if !errors.Is(err, fs.ErrNotExist) {
			return b, err
		}
	}
	if s.Tar != "" {
		var data []byte
		found := false
		err := eachTarEntry(s.Tar, func(n string, h *tar.Header, r io.Reader) error {
			if n != rel || (h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeRegA) {
				return nil
			}
			b, err := io.ReadAll(r)
			data, found = b, true // a later entry replaces an earlier one
			return err
		})
		if err != nil {
			return nil, err
		}
		if found {
			return data, nil
		}
	}
	return nil, fmt.Errorf("/%s: %w", rel, fs.ErrNotExist)
}

// readInDir reads rel below dir; os.Root refuses symlinks that leave dir.
func readInDir(dir, rel string) ([]byte, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return root.ReadFile(rel)
}
