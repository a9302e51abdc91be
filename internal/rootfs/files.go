package rootfs

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/smolvm/smolvm/internal/elfdeps"
)

// File is a host file or directory placed at Dst (absolute) in the
// guest, as it is: modes, owners and symlinks kept, directories copied
// whole (--add SRC:DST).
type File struct{ Src, Dst string }

// placement is one host path that goes into the root.
type placement struct {
	src, dst string // dst is relative to the root ("bin/app")
	// program: the file's content (symlinks followed), mode 0755,
	// owned by root; otherwise src is copied as it is (File).
	program bool
}

// placements lists what Binaries and Files put into the root, in order
// (a later one replaces an earlier one at the same path): each binary in
// /bin with its dynamic loader and libraries (package elfdeps), then the
// files.
func (s Spec) placements() ([]placement, error) {
	var out []placement
	seen := map[string]bool{}
	for _, b := range s.Binaries {
		if err := elfdeps.Check(b); err != nil {
			return nil, err
		}
		guest := "/bin/" + filepath.Base(b)
		deps, err := elfdeps.Resolver{}.Deps(b, guest)
		if err != nil {
			return nil, err
		}
		out = append(out, placement{src: b, dst: rel(guest), program: true})
		for _, d := range deps {
			if !seen[d.Dst] {
				seen[d.Dst] = true
				out = append(out, placement{src: d.Src, dst: rel(d.Dst), program: true})
			}
		}
	}
	for _, f := range s.Files {
		if !path.IsAbs(f.Dst) {
			return nil, fmt.Errorf("add %s: destination %q is not an absolute path", f.Src, f.Dst)
		}
		if rel(f.Dst) == "" {
			return nil, fmt.Errorf("add %s: destination is the root itself; use --rootfs for a whole tree", f.Src)
		}
		out = append(out, placement{src: f.Src, dst: rel(f.Dst)})
	}
	return out, nil
}

func rel(p string) string { return strings.TrimPrefix(path.Clean("/"+p), "/") }

// size is the bytes of regular files a placement adds.
func (p placement) size() (int64, error) {
	var n int64
	if p.program {
		st, err := os.Stat(p.src)
		if err != nil {
			return 0, err
		}
		return st.Size(), nil
	}
	err := filepath.WalkDir(p.src, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	return n, err
}

// addTo puts the placement into an initramfs tree.
func (p placement) addTo(t *tree) error {
	if p.program {
		data, err := os.ReadFile(p.src)
		if err != nil {
			return err
		}
		t.addFile(p.dst, data, 0o755)
		return nil
	}
	st, err := os.Lstat(p.src)
	if err != nil {
		return err
	}
	if st.IsDir() {
		return t.addDir(p.src, p.dst)
	}
	r, err := t.rec.GetRecord(p.src)
	if err != nil {
		return fmt.Errorf("read %s: %w", p.src, err)
	}
	r.Name, r.MTime = p.dst, 0
	r.Dev, r.Major, r.Minor = 0, 0, 0
	t.ensureParents(p.dst)
	t.recs[p.dst] = r
	return nil
}

// stage copies the placement into the staging directory of an EROFS
// image.
func (p placement) stage(stage string) error {
	dst := filepath.Join(stage, filepath.FromSlash(p.dst))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if p.program {
		data, err := os.ReadFile(p.src)
		if err != nil {
			return err
		}
		os.Remove(dst)
		return os.WriteFile(dst, data, 0o755)
	}
	src := p.src
	if st, err := os.Lstat(src); err != nil {
		return err
	} else if st.IsDir() {
		// Merge into an existing directory rather than nest inside it.
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
		src, dst = src+"/.", dst+"/"
	}
	// cp -a keeps modes, owners, links and device nodes.
	if out, err := exec.Command("cp", "-a", "--", src, dst).CombinedOutput(); err != nil {
		return fmt.Errorf("copy %s: %v: %s", p.src, err, bytes.TrimSpace(out))
	}
	return nil
}
