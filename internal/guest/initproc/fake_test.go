package initproc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// fakeSys records every System call in order and fails the ones it is told
// to. Port writes are recorded as "port 0x601=2".
type fakeSys struct {
	mu    sync.Mutex
	calls []string

	failMount map[string]error // by target
	failMkdir map[string]error // by path
	// missing makes Stat report ENOENT for the first n calls on a path
	// (n < 0: always); other paths exist.
	missing      map[string]int
	failSymlink  error
	portsErr     error
	hostnameHook func(string) error
	onPort       func(port int64, value byte)
	stdio        map[string]*os.File // what OpenStdio returns, by path
}

func (f *fakeSys) record(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeSys) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// ports returns just the port writes, in order.
func (f *fakeSys) ports() []string {
	var out []string
	for _, c := range f.log() {
		if strings.HasPrefix(c, "port ") {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeSys) MkdirAll(path string, mode fs.FileMode) error {
	f.record("mkdir %s %#o", path, unixMode(mode))
	return f.failMkdir[path]
}

func (f *fakeSys) Stat(path string) (fs.FileInfo, error) {
	f.record("stat %s", path)
	f.mu.Lock()
	defer f.mu.Unlock()
	if n, ok := f.missing[path]; ok && n != 0 {
		if n > 0 {
			f.missing[path] = n - 1
		}
		return nil, &fs.PathError{Op: "stat", Path: path, Err: syscall.ENOENT}
	}
	return nil, nil
}

func (f *fakeSys) Mount(source, target, fstype string, flags uintptr, data string) error {
	f.record("mount %s %s %s %#x %s", fstype, source, target, flags, data)
	return f.failMount[target]
}

func (f *fakeSys) Symlink(target, link string) error {
	f.record("symlink %s %s", link, target)
	return f.failSymlink
}

func (f *fakeSys) AttachConsole(path string) error {
	f.record("console %s", path)
	return nil
}

func (f *fakeSys) OpenPorts(path string) (Ports, error) {
	f.record("open ports %s", path)
	if f.portsErr != nil {
		return nil, f.portsErr
	}
	return fakePorts{f}, nil
}

type fakePorts struct{ f *fakeSys }

func (p fakePorts) WritePort(port int64, value byte) error {
	p.f.record("port %#x=%d", port, value)
	if p.f.onPort != nil {
		p.f.onPort(port, value)
	}
	return nil
}

func (f *fakeSys) OpenStdio(path string) (*os.File, error) {
	f.record("open stdio %s", path)
	if file, ok := f.stdio[path]; ok {
		return file, nil
	}
	return nil, fs.ErrNotExist
}

func (f *fakeSys) LinkUp(name string) error {
	f.record("link up %s", name)
	return nil
}

func (f *fakeSys) Sethostname(name string) error {
	f.record("sethostname %s", name)
	if f.hostnameHook != nil {
		return f.hostnameHook(name)
	}
	return nil
}

func (f *fakeSys) Chdir(dir string) error {
	f.record("chdir %s", dir)
	// Do not change the test process's cwd; fail like chdir would.
	fi, err := os.Stat(dir)
	if err == nil && !fi.IsDir() {
		err = errors.New("not a directory")
	}
	return err
}

func (f *fakeSys) KillAll() error {
	f.record("killall")
	return ErrNotPID1 // never kill anything on the host
}

func (f *fakeSys) Sync() { f.record("sync") }

func (f *fakeSys) Drain(tty *os.File, timeout time.Duration) error {
	f.record("drain %s", filepath.Base(tty.Name()))
	return nil
}

func (f *fakeSys) Reboot() error {
	f.record("reboot")
	return errors.New("fake")
}
