package initproc

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Exit statuses for a program that could not be started, as POSIX shells
// use them.
const (
	StatusCannotExecute = 126 // found, but not executable
	StatusNotFound      = 127 // not found
)

// ErrNotFound is the error of a StartError for a command name (no slash) that
// no PATH directory holds.
var ErrNotFound = errors.New("not found")

// StartError says why the program could not be started and which exit
// status a shell would report for it (StatusNotFound or
// StatusCannotExecute). Its message has the shell's form "NAME: REASON".
type StartError struct {
	Name   string // Argv[0] as given in the configuration
	Err    error  // ErrNotFound or a syscall.Errno
	Status int    // 126 or 127
	Hint   string // optional explanation appended in parentheses
}

func (e *StartError) Error() string {
	msg := e.Name + ": " + e.Err.Error()
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg
}

func (e *StartError) Unwrap() error { return e.Err }

// startError classifies err as bash does after a failed execve: ENOENT
// means "not found" (127), anything else "found but cannot be executed"
// (126): EACCES, EISDIR, ENOEXEC, ENOTDIR, ETXTBSY, ...
func startError(name string, err error) *StartError {
	status := StatusCannotExecute
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, ErrNotFound) {
		status = StatusNotFound
	}
	return &StartError{Name: name, Err: err, Status: status}
}

// LookPath resolves name the way a POSIX shell (or execvp) does:
//
//   - A name containing a slash is used as is; a relative one is relative
//     to dir.
//   - Otherwise each element of pathList is tried in order; an empty
//     element means dir. Directories and missing files are skipped; the
//     first executable regular file wins. If none is found but a file
//     without execute permission was, the result is "permission denied"
//     (126), else "not found" (127).
//
// dir is the directory the program will run in ("" means the current
// directory). The returned path is absolute when dir is, so that execve does
// not depend on the caller's cwd. Errors are always *StartError.
func LookPath(name, pathList, dir string) (string, error) {
	return lookPath(ownRoot, name, pathList, dir)
}

// LookPathIn is LookPath for a program that will be chrooted into root
// (root "" is LookPath itself). dir, the PATH elements and the result are
// paths inside root ("" dir means root's "/"), and every path is resolved
// as it will be after the chroot: absolute symlinks and ".." stay inside
// root (openat2 with RESOLVE_IN_ROOT, Linux 5.6), nothing is looked up in
// smol-init's own root. Errors are *StartError, except when root itself
// cannot be opened.
func LookPathIn(root, name, pathList, dir string) (string, error) {
	v, err := openView(root)
	if err != nil {
		return "", err
	}
	defer v.close()
	if root != "" && dir == "" {
		dir = "/"
	}
	return lookPath(v, name, pathList, dir)
}

func lookPath(v view, name, pathList, dir string) (string, error) {
	if dir == "" {
		dir = "."
	}
	if strings.Contains(name, "/") {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if err := checkExecutable(v, p); err != nil {
			return "", startError(name, err)
		}
		return p, nil
	}
	denied := ""
	for _, elem := range strings.Split(pathList, ":") {
		p := filepath.Join(elem, name) // Join("", name) == name, i.e. relative to dir
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		switch err := checkExecutable(v, p); {
		case err == nil:
			return p, nil
		case errors.Is(err, syscall.EACCES) && denied == "":
			denied = p
		}
	}
	if denied != "" {
		return "", &StartError{Name: name, Err: syscall.EACCES, Status: StatusCannotExecute}
	}
	return "", startError(name, ErrNotFound)
}

// checkExecutable reports whether execve(p) can be expected to find an
// executable file: nil, or the errno execve would give (ENOENT, ENOTDIR,
// EISDIR, EACCES, ELOOP). A file that passes can still fail in execve, e.g.
// with ENOEXEC or a missing interpreter; Start classifies those.
func checkExecutable(v view, p string) error {
	mode, err := v.statMode(p)
	if err != nil {
		return err
	}
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		return syscall.EISDIR
	default: // device, fifo, socket: execve gives EACCES
		return syscall.EACCES
	}
	// access(2) rather than the mode bits: it applies the caller's
	// credentials (root may execute a file if any x bit is set) and
	// noexec mounts.
	if err := v.access(p, unix.X_OK); err != nil {
		return syscall.EACCES
	}
	return nil
}

// A view resolves paths as the program will see them: in smol-init's own
// root directory (ownRoot), or inside the directory the program will be
// chrooted into.
type view struct {
	root string // "" for ownRoot
	fd   int    // O_PATH descriptor of root; -1 for ownRoot
}

var ownRoot = view{fd: -1}

func openView(root string) (view, error) {
	if root == "" {
		return ownRoot, nil
	}
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return view{}, &fs.PathError{Op: "open root", Path: root, Err: err}
	}
	return view{root: root, fd: fd}, nil
}

func (v view) close() {
	if v.fd >= 0 {
		unix.Close(v.fd)
	}
}

// open returns an O_PATH descriptor of p (following symlinks) resolved
// inside v's root; p may be absolute or relative, both mean from the root.
func (v view) open(p string) (int, error) {
	how := &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT}
	for {
		fd, err := unix.Openat2(v.fd, p, how)
		// EAGAIN: a concurrent rename made the kernel give up on a
		// ".." check; retrying is what openat2(2) prescribes.
		if err != unix.EINTR && err != unix.EAGAIN {
			return fd, err
		}
	}
}

// statMode is stat(2)'s st_mode for p, or its errno.
func (v view) statMode(p string) (uint32, error) {
	var st unix.Stat_t
	if v.fd < 0 {
		err := unix.Stat(p, &st)
		return st.Mode, err
	}
	fd, err := v.open(p)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	err = unix.Fstat(fd, &st)
	return st.Mode, err
}

// access is access(2) for p.
func (v view) access(p string, mode uint32) error {
	if v.fd < 0 {
		return unix.Access(p, mode)
	}
	fd, err := v.open(p)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	err = unix.Faccessat2(fd, "", mode, unix.AT_EMPTY_PATH)
	if err == unix.ENOSYS { // before Linux 5.8; /proc is mounted by then
		err = unix.Access("/proc/self/fd/"+strconv.Itoa(fd), mode)
	}
	return err
}
