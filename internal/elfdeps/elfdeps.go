// Package elfdeps finds what a dynamically linked x86-64 Linux program
// needs at run time — its dynamic loader (PT_INTERP) and every shared
// library in the DT_NEEDED closure — by reading ELF headers with
// debug/elf. The program is never executed (ldd runs the loader on it,
// which would run untrusted code on the build host).
//
// Libraries are searched for as glibc's ld.so does: DT_RPATH of the
// object (when it has no DT_RUNPATH) and of the program, DT_RUNPATH of
// the object, the /etc/ld.so.conf directories (what ld.so.cache holds),
// then the system directories; $ORIGIN is expanded. Files of another
// class or machine are skipped, as ld.so skips them.
//
// Each dependency is placed in the guest where the guest's ld.so will
// look for it: at the path where it was found, except that a library
// found only through ld.so.conf (the guest has no ld.so.cache) or /lib64
// goes to GuestLibDir. Symlinks are resolved for the content, and the
// name searched for (the SONAME) is kept.
package elfdeps

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// SystemDirs are the directories Debian's x86-64 ld.so searches after
// its cache, in order (`ld.so --help` lists them).
var SystemDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib", "/usr/lib"}

// GuestLibDir is where a library goes in the guest when the guest's
// ld.so would not find it at its host path.
const GuestLibDir = "/usr/lib/x86_64-linux-gnu"

// extraDirs are searched last on the host; ld.so does not search them by
// default, so what is found there goes to GuestLibDir.
var extraDirs = []string{"/lib64"}

// File is one file the program needs.
type File struct {
	Src string // host file (symlinks resolved)
	Dst string // absolute path in the guest
}

// ErrNotELF is returned for a file that is not an ELF object.
var ErrNotELF = errors.New("not an ELF executable")

// Resolver finds dependencies on a host.
type Resolver struct {
	// Root is prepended to every host path searched ("" for /), so
	// tests can work on a tree of their own.
	Root string
}

// Deps returns the loader and libraries the x86-64 program at bin needs,
// when it is placed in the guest at guestPath (which matters for
// $ORIGIN). A static program needs nothing. Order: the loader first,
// then libraries breadth-first as ld.so loads them.
func (r Resolver) Deps(bin, guestPath string) ([]File, error) {
	f, err := open(bin)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	interp, err := interpreter(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", bin, err)
	}
	if interp == "" {
		return nil, nil
	}
	src, err := filepath.EvalSymlinks(r.host(interp))
	if err != nil {
		return nil, fmt.Errorf("%s needs the dynamic loader %s, which is not on this host: %w", bin, interp, err)
	}
	out := []File{{Src: src, Dst: interp}}

	exe, err := readObject(f, bin, guestPath)
	if err != nil {
		return nil, err
	}
	ldconf, err := r.ldSoConfDirs()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{path.Base(interp): true}
	queue := []*object{exe}
	for len(queue) > 0 {
		o := queue[0]
		queue = queue[1:]
		for _, name := range o.needed {
			if seen[name] {
				continue
			}
			seen[name] = true
			lib, dst, err := r.find(name, o, exe, ldconf)
			if err != nil {
				return nil, err
			}
			src, err := filepath.EvalSymlinks(lib.hostPath)
			if err != nil {
				return nil, err
			}
			out = append(out, File{Src: src, Dst: dst})
			queue = append(queue, lib)
		}
	}
	return out, nil
}

// object is a loaded ELF file and what its dynamic section asks for.
type object struct {
	hostPath, guestPath    string
	needed, rpath, runpath []string
}

func open(p string) (*elf.File, error) {
	if st, err := os.Stat(p); err != nil {
		return nil, err
	} else if st.IsDir() {
		return nil, fmt.Errorf("%s is a directory: --binary takes a Linux x86-64 program (use --rootfs or --add for a directory)", p)
	}
	f, err := elf.Open(p)
	if err != nil {
		// Any parse failure (a bad header, or a file shorter than
		// one) means this is not a program we can read.
		return nil, fmt.Errorf("%s: %w: --binary takes a Linux x86-64 program (use --add for other files)", p, ErrNotELF)
	}
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 {
		f.Close()
		return nil, fmt.Errorf("%s is a %v %v program; smolvm runs x86-64 Linux programs", p, f.Class, f.Machine)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		f.Close()
		return nil, fmt.Errorf("%s is an ELF %v, not a program", p, f.Type)
	}
	return f, nil
}

func interpreter(f *elf.File) (string, error) {
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			return "", fmt.Errorf("read PT_INTERP: %w", err)
		}
		return strings.TrimRight(string(b), "\x00"), nil
	}
	return "", nil
}

func readObject(f *elf.File, hostPath, guestPath string) (*object, error) {
	o := &object{hostPath: hostPath, guestPath: guestPath}
	var err error
	if o.needed, err = f.DynString(elf.DT_NEEDED); err != nil {
		return nil, fmt.Errorf("%s: read DT_NEEDED: %w", hostPath, err)
	}
	for tag, dst := range map[elf.DynTag]*[]string{elf.DT_RPATH: &o.rpath, elf.DT_RUNPATH: &o.runpath} {
		vals, err := f.DynString(tag)
		if err != nil {
			return nil, fmt.Errorf("%s: read %v: %w", hostPath, tag, err)
		}
		for _, v := range vals {
			*dst = append(*dst, filepath.SplitList(v)...)
		}
	}
	return o, nil
}

// searchDir is one directory to look in: where on the host, and where
// the guest's ld.so will look for what is found there.
type searchDir struct{ host, guest string }

// find looks name up for o (loaded by the program exe) in ld.so's order.
func (r Resolver) find(name string, o, exe *object, ldconf []string) (*object, string, error) {
	var dirs []searchDir
	expand := func(list []string, obj *object) {
		for _, d := range list {
			dirs = append(dirs, searchDir{
				host:  expandOrigin(d, path.Dir(obj.hostPath)),
				guest: expandOrigin(d, path.Dir(obj.guestPath)),
			})
		}
	}
	if len(o.runpath) == 0 {
		expand(o.rpath, o)
		if o != exe && len(exe.runpath) == 0 {
			expand(exe.rpath, exe)
		}
	}
	expand(o.runpath, o)
	for _, d := range ldconf {
		if !slices.Contains(SystemDirs, d) {
			dirs = append(dirs, searchDir{host: d, guest: GuestLibDir})
		}
	}
	for _, d := range SystemDirs {
		dirs = append(dirs, searchDir{host: d, guest: d})
	}
	for _, d := range extraDirs {
		dirs = append(dirs, searchDir{host: d, guest: GuestLibDir})
	}
	var tried []string
	for _, d := range dirs {
		if strings.Contains(d.host, "$") {
			continue // $LIB, $PLATFORM: not expanded here
		}
		p := r.host(path.Join(d.host, name))
		tried = append(tried, path.Join(d.host, name))
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		// ld.so skips libraries of another class or machine (a
		// 32-bit libc in /usr/lib, say) and keeps searching.
		if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 {
			f.Close()
			continue
		}
		lib, err := readObject(f, p, path.Join(d.guest, name))
		f.Close()
		if err != nil {
			return nil, "", err
		}
		return lib, lib.guestPath, nil
	}
	return nil, "", fmt.Errorf("%s needs %s, which is not in any library directory (looked in %s): install it on this host, or add it with --add SRC:DST",
		o.hostPath, name, strings.Join(uniqueDirs(tried), ", "))
}

func uniqueDirs(paths []string) []string {
	var out []string
	for _, p := range paths {
		if d := path.Dir(p); !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

func expandOrigin(dir, origin string) string {
	dir = strings.ReplaceAll(dir, "${ORIGIN}", origin)
	return path.Clean(strings.ReplaceAll(dir, "$ORIGIN", origin))
}

// host maps an absolute host path under Root.
func (r Resolver) host(p string) string {
	if r.Root == "" {
		return p
	}
	return filepath.Join(r.Root, p)
}

// ldSoConfDirs reads /etc/ld.so.conf and the files it includes, in order.
func (r Resolver) ldSoConfDirs() ([]string, error) {
	var dirs []string
	seen := map[string]bool{}
	var read func(file string, depth int) error
	read = func(file string, depth int) error {
		if depth > 8 || seen[file] {
			return nil // an include loop
		}
		seen[file] = true
		f, err := os.Open(r.host(file))
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line, _, _ := strings.Cut(sc.Text(), "#")
			fields := strings.Fields(line)
			switch {
			case len(fields) == 0:
			case fields[0] == "include":
				for _, pat := range fields[1:] {
					if !path.IsAbs(pat) {
						pat = path.Join(path.Dir(file), pat)
					}
					matches, _ := filepath.Glob(r.host(pat))
					slices.Sort(matches)
					for _, m := range matches {
						rel := m
						if r.Root != "" {
							rel = "/" + strings.TrimPrefix(strings.TrimPrefix(m, r.Root), "/")
						}
						if err := read(rel, depth+1); err != nil {
							return err
						}
					}
				}
			case fields[0] == "hwcap":
			default:
				for _, d := range fields {
					if path.IsAbs(d) && !slices.Contains(dirs, path.Clean(d)) {
						dirs = append(dirs, path.Clean(d))
					}
				}
			}
		}
		return sc.Err()
	}
	if err := read("/etc/ld.so.conf", 0); err != nil {
		return nil, fmt.Errorf("read /etc/ld.so.conf: %w", err)
	}
	return dirs, nil
}

// Check reports whether p is an x86-64 Linux program smolvm can run, with
// an error that says what to do otherwise.
func Check(p string) error {
	f, err := open(p)
	if err != nil {
		return err
	}
	return f.Close()
}
