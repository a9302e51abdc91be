// Package layers flattens a sequence of container image layers (tar
// streams, lowest first) into one tree, the way an overlay filesystem
// would present them, and writes that tree out as a single tar.
//
// It follows the OCI image spec's layer rules:
//
//   - a later entry replaces an earlier one at the same path; a directory
//     over a directory merges (the new header wins, the children stay),
//     anything else over a directory removes the directory's subtree;
//   - ".wh.NAME" removes NAME (and everything below it) from the lower
//     layers; ".wh..wh..opq" in a directory removes everything the lower
//     layers had in it, but not what its own layer puts there;
//   - whiteout entries themselves never appear in the result.
//
// Modes, numeric ownership, symlinks, device nodes and fifos are kept.
// A hard link shares its target's data: if the target is later removed or
// replaced, the link keeps the data, as on a real filesystem.
//
// The output is reproducible: entries sorted by path (every directory
// before its contents), times zeroed, user and group names and PAX
// records dropped (ownership is numeric). File data is spooled to a
// temporary file rather than held in memory, because image layers can be
// far larger than the process should allocate.
package layers

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"
)

// Whiteout markers from the OCI image spec.
const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
)

// Tree is the result of applying layers in order. Its zero value is not
// usable; create one with New and Close it to remove the spool.
type Tree struct {
	entries map[string]*entry // by clean relative path ("etc/passwd")
	spool   *os.File          // file data of every regular entry
	size    int64             // bytes written to spool
	layer   int               // index of the layer being applied
}

// entry is one path in the tree. Regular files and hard links point at
// a shared data record, so that every name of a hard-linked file keeps the
// same bytes whatever happens to the others.
type entry struct {
	hdr   tar.Header // Typeflag is never TypeLink: links become TypeReg
	data  *data      // regular files only
	layer int        // the layer that last wrote this path
}

type data struct{ off, size int64 }

// New returns an empty tree that spools file data under dir (os.TempDir
// when empty).
func New(dir string) (*Tree, error) {
	f, err := os.CreateTemp(dir, "smolvm-layers-")
	if err != nil {
		return nil, fmt.Errorf("layer spool: %w", err)
	}
	// The spool needs no name: unlink it now so nothing is left behind
	// if the process dies.
	os.Remove(f.Name())
	return &Tree{entries: map[string]*entry{}, spool: f}, nil
}

// Close releases the spool.
func (t *Tree) Close() error { return t.spool.Close() }

// Flatten applies each layer in order (lowest first) to a new tree.
func Flatten(dir string, layers ...io.Reader) (*Tree, error) {
	t, err := New(dir)
	if err != nil {
		return nil, err
	}
	for i, l := range layers {
		if err := t.Apply(l); err != nil {
			t.Close()
			return nil, fmt.Errorf("layer %d: %w", i+1, err)
		}
	}
	return t, nil
}

// Apply adds one uncompressed layer on top of the tree.
func (t *Tree) Apply(r io.Reader) error {
	t.layer++
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		name, err := Clean(h.Name)
		if err != nil {
			return err
		}
		if name == "" {
			continue // the layer's root directory itself
		}
		dir, base := path.Split(name)
		dir = strings.TrimSuffix(dir, "/")
		switch {
		case base == opaqueMarker:
			t.removeBelow(dir, true)
			continue
		case strings.HasPrefix(base, whiteoutPrefix):
			target := path.Join(dir, strings.TrimPrefix(base, whiteoutPrefix))
			if e, ok := t.entries[target]; ok && e.layer < t.layer {
				delete(t.entries, target)
			}
			t.removeBelow(target, true)
			continue
		}
		if err := t.add(name, h, tr); err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
	}
}

// add puts one non-whiteout entry at name.
func (t *Tree) add(name string, h *tar.Header, r io.Reader) error {
	e := &entry{hdr: normalise(h, name), layer: t.layer}
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeRegA:
		e.hdr.Typeflag = tar.TypeReg
		d := &data{off: t.size, size: h.Size}
		n, err := io.Copy(io.NewOffsetWriter(t.spool, t.size), io.LimitReader(r, h.Size))
		if err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		if n != h.Size {
			return fmt.Errorf("truncated: %d of %d bytes", n, h.Size)
		}
		t.size += n
		e.data = d
	case tar.TypeLink:
		target, err := Clean(h.Linkname)
		if err != nil {
			return err
		}
		te, ok := t.entries[target]
		if !ok || te.data == nil {
			return fmt.Errorf("hard link to %s, which is not a regular file in this or a lower layer", h.Linkname)
		}
		// A hard link is another name for the same inode: it takes
		// the target's mode and ownership, not its own header's.
		e.hdr = te.hdr
		e.hdr.Name = name
		e.data = te.data
	case tar.TypeDir, tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	default:
		return fmt.Errorf("unsupported tar entry type %q", h.Typeflag)
	}
	if old, ok := t.entries[name]; ok && old.hdr.Typeflag == tar.TypeDir && e.hdr.Typeflag != tar.TypeDir {
		t.removeBelow(name, false)
	}
	t.entries[name] = e
	// Parent directories a layer leaves implicit become root-owned 0755
	// directories, as a tar extraction would create them.
	for d := path.Dir(name); d != "."; d = path.Dir(d) {
		if _, ok := t.entries[d]; ok {
			break // never replace what a layer put there, even a symlink
		}
		t.entries[d] = &entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: epoch}, layer: t.layer}
	}
	return nil
}

// removeBelow deletes every entry strictly below dir (the whole tree for
// dir ""), or with lowerOnly only those from layers below the current one.
func (t *Tree) removeBelow(dir string, lowerOnly bool) {
	prefix := dir + "/"
	if dir == "" {
		prefix = ""
	}
	for n, e := range t.entries {
		if strings.HasPrefix(n, prefix) && (!lowerOnly || e.layer < t.layer) {
			delete(t.entries, n)
		}
	}
}

// normalise keeps what the root filesystem needs from h and drops what
// would make the output depend on when or where the layer was made.
func normalise(h *tar.Header, name string) tar.Header {
	n := tar.Header{
		Typeflag: h.Typeflag,
		Name:     name,
		Linkname: h.Linkname,
		Mode:     h.Mode & 0o7777,
		Uid:      h.Uid,
		Gid:      h.Gid,
		Devmajor: h.Devmajor,
		Devminor: h.Devminor,
		ModTime:  epoch,
	}
	if h.Typeflag == tar.TypeDir {
		n.Name += "/"
	}
	return n
}

// Clean turns a tar entry name into a clean path relative to the root
// ("" for the root itself). Names that climb out of the root are refused:
// extracting them would write outside the tree.
func Clean(name string) (string, error) {
	c := path.Clean("/" + name)
	if c == "/" {
		return "", nil
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("tar entry %q climbs out of the root with ..", name)
		}
	}
	return strings.TrimPrefix(c, "/"), nil
}

// Names returns the tree's paths in output order: sorted by path
// components, so every directory precedes its contents.
func (t *Tree) Names() []string {
	names := make([]string, 0, len(t.entries))
	for n := range t.entries {
		names = append(names, n)
	}
	sortPaths(names)
	return names
}

func sortPaths(names []string) {
	key := func(n string) string { return strings.ReplaceAll(n, "/", "\x00") }
	sort.Slice(names, func(i, j int) bool { return key(names[i]) < key(names[j]) })
}

// epoch is every entry's modification time.
var epoch = time.Unix(0, 0)

// ErrNotExist is returned by ReadFile for a path the tree does not hold.
var ErrNotExist = errors.New("no such file in the image")

// ReadFile returns the contents of the regular file at name (a path
// relative to the root or absolute), following symlinks inside the tree.
func (t *Tree) ReadFile(name string) ([]byte, error) {
	e, err := t.resolve(name)
	if err != nil {
		return nil, err
	}
	if e.data == nil {
		return nil, fmt.Errorf("/%s is not a regular file", strings.TrimSuffix(e.hdr.Name, "/"))
	}
	b := make([]byte, e.data.size)
	_, err = t.spool.ReadAt(b, e.data.off)
	return b, err
}

// resolve finds the entry at name, following symlinks (at most 40, as
// Linux does) in every component.
func (t *Tree) resolve(name string) (*entry, error) {
	p, _ := Clean(name)
	for hops := 0; hops < 40; hops++ {
		e, rest, err := t.walk(p)
		if err != nil {
			return nil, err
		}
		if e.hdr.Typeflag != tar.TypeSymlink {
			return e, nil
		}
		link := e.hdr.Linkname
		if !path.IsAbs(link) {
			link = path.Join(path.Dir(e.hdr.Name), link)
		}
		p = strings.TrimPrefix(path.Join("/", link, rest), "/")
	}
	return nil, fmt.Errorf("/%s: too many levels of symbolic links", name)
}

// walk returns the entry at p, or the first symlink on the way to it and
// the rest of p after that symlink.
func (t *Tree) walk(p string) (*entry, string, error) {
	parts := strings.Split(p, "/")
	for i := range parts {
		cur := strings.Join(parts[:i+1], "/")
		e, ok := t.entries[cur]
		if !ok {
			return nil, "", fmt.Errorf("/%s: %w", p, ErrNotExist)
		}
		if e.hdr.Typeflag == tar.TypeSymlink {
			return e, strings.Join(parts[i+1:], "/"), nil
		}
		if i == len(parts)-1 {
			return e, "", nil
		}
	}
	return nil, "", fmt.Errorf("/%s: %w", p, ErrNotExist)
}

// WriteTar writes the tree as one tar stream. Of the names
// of a hard-linked file, the first in output order carries the data and
// the others link to it.
func (t *Tree) WriteTar(w io.Writer) error {
	tw := tar.NewWriter(w)
	first := map[*data]string{}
	for _, n := range t.Names() {
		e := t.entries[n]
		h := e.hdr
		if e.data != nil {
			if f, ok := first[e.data]; ok {
				h.Typeflag, h.Linkname, h.Size = tar.TypeLink, f, 0
				if err := tw.WriteHeader(&h); err != nil {
					return fmt.Errorf("write %s: %w", n, err)
				}
				continue
			}
			first[e.data] = n
			h.Size = e.data.size
		}
		if err := tw.WriteHeader(&h); err != nil {
			return fmt.Errorf("write %s: %w", n, err)
		}
		if e.data != nil {
			if _, err := io.Copy(tw, io.NewSectionReader(t.spool, e.data.off, e.data.size)); err != nil {
				return fmt.Errorf("write %s: %w", n, err)
			}
		}
	}
	return tw.Close()
}
