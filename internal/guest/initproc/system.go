package initproc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// System is everything smol-init asks of the kernel besides starting and
// reaping the program. LinuxSystem is the real one; tests substitute fakes
// that record calls.
type System interface {
	MkdirAll(path string, mode fs.FileMode) error
	Mount(source, target, fstype string, flags uintptr, data string) error
	// Stat is os.Stat (it follows symlinks); WaitPath polls it.
	Stat(path string) (fs.FileInfo, error)
	Symlink(target, link string) error
	// AttachConsole opens the console at path as fds 0-2 and makes it a
	// raw byte line (see makeRaw). It replaces what the kernel opened for
	// PID 1 even when that was the console: the kernel's fds refer to the
	// initramfs's /dev/console node, which devtmpfs now hides, so
	// ttyname(3) would fail for the program (its st_ino matches no file in
	// /dev). If the kernel found no console, fds 0-2 are /dev/null (the Go
	// runtime's substitute for closed standard fds) and stay so if path
	// cannot be opened either.
	AttachConsole(path string) error
	// OpenStdio opens path read-write for the program's stdio or for
	// reading host signals; a terminal is made a raw byte line.
	OpenStdio(path string) (*os.File, error)
	// OpenPorts opens the I/O port device (normally /dev/port).
	OpenPorts(path string) (Ports, error)
	Sethostname(name string) error
	// LinkUp brings a network interface up (the loopback, so programs
	// can talk to themselves on 127.0.0.1 as they do everywhere else).
	LinkUp(name string) error
	Chdir(dir string) error
	// KillAll sends SIGKILL to every process but the caller.
	KillAll() error
	Sync()
	// Drain waits until output written to tty has been transmitted, for
	// at most timeout; a file that is not a terminal has nothing to drain.
	Drain(tty *os.File, timeout time.Duration) error
	// Reboot restarts the machine; it returns only on failure.
	Reboot() error
}

// Ports writes single bytes to I/O ports.
type Ports interface {
	WritePort(port int64, value byte) error
}

// ErrNotPID1 is returned by LinuxSystem's machine-wide operations (KillAll,
// Reboot) when the caller is not process 1: they must never run on a host
// that merely executes smol-init or its tests.
var ErrNotPID1 = errors.New("refusing: not process 1")

// LinuxSystem implements System with real system calls.
type LinuxSystem struct{}

var _ System = LinuxSystem{}

func (LinuxSystem) MkdirAll(path string, mode fs.FileMode) error { return os.MkdirAll(path, mode) }
func (LinuxSystem) Stat(path string) (fs.FileInfo, error)        { return os.Stat(path) }

func (LinuxSystem) Mount(source, target, fstype string, flags uintptr, data string) error {
	return unix.Mount(source, target, fstype, flags, data)
}

func (LinuxSystem) Symlink(target, link string) error {
	err := os.Symlink(target, link)
	if errors.Is(err, fs.ErrExist) {
		if cur, rerr := os.Readlink(link); rerr == nil && cur == target {
			return nil
		}
	}
	return err
}

func (LinuxSystem) AttachConsole(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	for fd := 0; fd <= 2; fd++ {
		if err := unix.Dup3(int(f.Fd()), fd, 0); err != nil {
			return fmt.Errorf("dup3 to fd %d: %w", fd, err)
		}
	}
	return makeRaw(int(f.Fd()))
}

func (LinuxSystem) OpenStdio(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	if err := makeRaw(int(f.Fd())); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// makeRaw turns the terminal on fd, if it is one, into a transparent byte
// line, as cfmakeraw(3) does. The serial lines are pipes to the host, not
// terminals a person types on: output must reach the host unchanged (no
// "\n" to "\r\n"), and bytes the host sends (signal numbers on the console)
// must be neither echoed into the host's stderr nor taken as ^C or ^S.
// Termios belongs to the terminal, not the descriptor, so this holds for
// every descriptor of it, the kernel's own console output aside.
func makeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil // not a terminal: nothing to do
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return fmt.Errorf("raw mode: %w", err)
	}
	return nil
}

func (LinuxSystem) OpenPorts(path string) (Ports, error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	return portFile{f}, nil
}

// portFile writes to /dev/port, where the file offset is the port number
// and each byte written becomes one OUT instruction. The descriptor is
// close-on-exec (os.OpenFile's default), so the program never inherits it.
type portFile struct{ f *os.File }

func (p portFile) WritePort(port int64, value byte) error {
	n, err := unix.Pwrite(int(p.f.Fd()), []byte{value}, port)
	if err == nil && n != 1 {
		err = fmt.Errorf("short write to port %#x", port)
	}
	return err
}

func (LinuxSystem) Sethostname(name string) error { return unix.Sethostname([]byte(name)) }
func (LinuxSystem) Chdir(dir string) error        { return os.Chdir(dir) }

func (LinuxSystem) LinkUp(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

func (LinuxSystem) KillAll() error {
	if os.Getpid() != 1 {
		return ErrNotPID1
	}
	// From PID 1, kill(-1) reaches every process except itself (and
	// kernel threads, which ignore signals).
	return unix.Kill(-1, unix.SIGKILL)
}

func (LinuxSystem) Sync() { unix.Sync() }

func (LinuxSystem) Drain(tty *os.File, timeout time.Duration) error {
	if _, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS); err != nil {
		return nil // not a terminal
	}
	return drainTTY(tty, timeout)
}

// drainTTY is tcdrain(3) (ioctl TCSBRK with a non-zero argument) with a
// timeout: if the VMM's UART never reports the transmitter empty, the exit
// report must still go out. A drain stuck past the timeout leaves its
// goroutine blocked in the ioctl, which is harmless just before reboot.
//
// smol-init has no controlling terminal, so the kernel's job-control check
// for TCSBRK (SIGTTOU for background groups) never applies to it.
func drainTTY(tty *os.File, timeout time.Duration) error {
	fd := int(tty.Fd())
	done := make(chan error, 1)
	go func() {
		for {
			err := unix.IoctlSetInt(fd, unix.TCSBRK, 1)
			if err != unix.EINTR {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		return fmt.Errorf("console drain: timed out after %v", timeout)
	}
}

func (LinuxSystem) Reboot() error {
	if os.Getpid() != 1 {
		return ErrNotPID1
	}
	return unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
}
