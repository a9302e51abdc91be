// Package rootfs builds the guest's root filesystem as a newc cpio
// archive (the initramfs the kernel unpacks into its rootfs tmpfs) from
// what the user gives: static binaries, directory trees and tar files. smol-init is
// added at /.smolvm/init, a path no real root filesystem uses.
//
// Output is reproducible: entries are sorted, times are zero, inode
// numbers are assigned in order, and ownership is root unless a
// directory tree carries its own (a debootstrap tree keeps its owners).
package rootfs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/u-root/u-root/pkg/cpio"
)

// InitPath is where smol-init lives in the guest (rdinit= names it).
const InitPath = "/.smolvm/init"

// Spec is what goes into the root filesystem.
type Spec struct {
	// Tar, when set, is a tar file (plain or gzip) holding a root
	// filesystem, e.g. an OCI image's flattened layers. It goes in
	// first; Dir, Binaries and Files are laid over it.
	Tar string
	// Dir, when set, is a directory copied as the root of the tree.
	Dir string
	// Binaries are x86-64 programs placed in /bin under their base
	// names, each with the dynamic loader and shared libraries it needs.
	Binaries []string
	// Files are host files and directories added as they are.
	Files []File
	// Init is the smol-init executable.
	Init []byte
}

// Build returns the initramfs for spec.
func Build(spec Spec) ([]byte, error) {
	if len(spec.Init) == 0 {
		return nil, errors.New("no smol-init binary given")
	}
	t := newTree()
	if spec.Tar != "" {
		if err := t.addTar(spec.Tar); err != nil {
			return nil, err
		}
	}
	if spec.Dir != "" {
		if err := t.addDir(spec.Dir, ""); err != nil {
			return nil, err
		}
	}
	ps, err := spec.placements()
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		if err := p.addTo(t); err != nil {
			return nil, err
		}
	}
	t.addFile(strings.TrimPrefix(InitPath, "/"), spec.Init, 0o755)
	return t.archive()
}

// tree collects records by normalised path; later additions replace
// earlier ones (a --binary overrides the same path in --rootfs).
type tree struct {
	recs map[string]cpio.Record
	rec  *cpio.Recorder
}

func newTree() *tree { return &tree{recs: map[string]cpio.Record{}, rec: cpio.NewRecorder()} }

func (t *tree) addFile(name string, data []byte, perm uint64) {
	t.ensureParents(name)
	t.recs[name] = cpio.StaticFile(name, string(data), perm)
}

// ensureParents adds missing parent directories (root-owned, 0755).
func (t *tree) ensureParents(name string) {
	for d := path.Dir(name); d != "." && d != "/"; d = path.Dir(d) {
		if _, ok := t.recs[d]; !ok {
			t.recs[d] = cpio.Directory(d, 0o755)
		}
	}
}

// addDir adds the tree at root (a host directory) below prefix ("" for
// the root itself), keeping modes, owners and links.
func (t *tree) addDir(root, prefix string) error {
	st, err := os.Stat(root)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", root)
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || (rel == "." && prefix == "") {
			return err
		}
		rel = path.Join(prefix, filepath.ToSlash(rel))
		t.ensureParents(rel)
		r, err := t.rec.GetRecord(p)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		r.Name = rel
		r.MTime = 0
		r.Dev, r.Major, r.Minor = 0, 0, 0
		t.recs[rel] = r
		return nil
	})
}

func (t *tree) archive() ([]byte, error) {
	names := make([]string, 0, len(t.recs))
	for n := range t.recs {
		names = append(names, n)
	}
	// Sorted by path components (as filepath.WalkDir visits them): every
	// directory precedes its contents, and the first name of a hard link
	// (the one carrying the data) precedes the others.
	key := func(n string) string { return strings.ReplaceAll(n, "/", "\x00") }
	sort.Slice(names, func(i, j int) bool { return key(names[i]) < key(names[j]) })
	var buf bytes.Buffer
	w := cpio.Newc.Writer(&buf)
	for _, n := range names {
		if err := w.WriteRecord(t.recs[n]); err != nil {
			return nil, fmt.Errorf("write %s to the initramfs: %w", n, err)
		}
	}
	if err := cpio.WriteTrailer(w); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
