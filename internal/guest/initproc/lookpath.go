package initproc

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
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
	if dir == "" {
		dir = "."
	}
	if strings.Contains(name, "/") {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if err := checkExecutable(p); err != nil {
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
		switch err := checkExecutable(p); {
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
// EISDIR, EACCES). A file that passes can still fail in execve, e.g. with
// ENOEXEC or a missing interpreter; Start classifies those.
func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return errno
		}
		return err
	}
	switch {
	case fi.IsDir():
		return syscall.EISDIR
	case fi.Mode()&fs.ModeType != 0: // device, fifo, socket: execve gives EACCES
		return syscall.EACCES
	}
	// access(2) rather than the mode bits: it applies the caller's
	// credentials (root may execute a file if any x bit is set) and
	// noexec mounts.
	if err := unix.Access(p, unix.X_OK); err != nil {
		return syscall.EACCES
	}
	return nil
}
