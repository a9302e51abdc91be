package initproc

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/smolvm/smolvm/internal/guest/protocol"
)

// A regular file stands in for /dev/port: the byte for port N must land at
// offset N, exactly where /dev/port turns it into OUT to port N.
func TestPortFileWritesAtPortOffset(t *testing.T) {
	p := filepath.Join(t.TempDir(), "port")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ports, err := LinuxSystem{}.OpenPorts(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		port int64
		v    byte
	}{{protocol.PortMarker, protocol.MarkerInitStart}, {protocol.PortExit, 143}, {protocol.PortInitError, 1}} {
		if err := ports.WritePort(w.port, w.v); err != nil {
			t.Fatal(err)
		}
	}
	data, _ := os.ReadFile(p)
	want := make([]byte, protocol.PortInitError+1)
	want[protocol.PortExit], want[protocol.PortMarker], want[protocol.PortInitError] = 143, protocol.MarkerInitStart, 1
	if !bytes.Equal(data, want) {
		t.Errorf("port file has %d bytes, tail %v; want %v", len(data), data[protocol.PortExit:], want[protocol.PortExit:])
	}
	if _, err := (LinuxSystem{}).OpenPorts(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("OpenPorts of a missing device succeeded")
	}
}

func TestSymlinkIsIdempotent(t *testing.T) {
	link := filepath.Join(t.TempDir(), "fd")
	sys := LinuxSystem{}
	if err := sys.Symlink("/proc/self/fd", link); err != nil {
		t.Fatal(err)
	}
	if err := sys.Symlink("/proc/self/fd", link); err != nil {
		t.Errorf("same link again: %v", err)
	}
	if err := sys.Symlink("/elsewhere", link); err == nil {
		t.Error("a link to a different target was accepted")
	}
}

// openPTY returns the master of a new pseudo-terminal and its slave's path;
// the slave stands in for a serial line, the master for the VMM.
func openPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	return master, fmt.Sprintf("/dev/pts/%d", n)
}

// The serial lines must pass bytes through unchanged both ways: no "\n" to
// "\r\n", no echo of what the host sends, and a 0x03 from the host is the
// signal number 3, not a ^C.
func TestOpenStdioMakesTerminalsRaw(t *testing.T) {
	master, path := openPTY(t)
	tty, err := LinuxSystem{}.OpenStdio(path)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()

	if _, err := tty.Write([]byte("a\nb\n")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 16)
	n, err := master.Read(got)
	if err != nil || string(got[:n]) != "a\nb\n" {
		t.Errorf("host received %q, %v; want %q", got[:n], err, "a\nb\n")
	}

	sigs := make(chan os.Signal, 4)
	go ReadHostSignals(tty, sigs) // ends when the master closes (hangup)
	// 0x03 and 0x1c are ^C and ^\ to a cooked terminal; 0x00 and 0x7f are noise.
	if _, err := master.Write([]byte{byte(syscall.SIGQUIT), 0x00, 0x1c, 0x7f, byte(syscall.SIGTERM)}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []syscall.Signal{syscall.SIGQUIT, syscall.SIGWINCH, syscall.SIGTERM} {
		select {
		case s := <-sigs:
			if s != want {
				t.Errorf("got %v, want %v", s, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("signal %v never arrived (line not raw?)", want)
		}
	}
	// Nothing may have been echoed back to the host: the next bytes it
	// receives are the ones written after the signals.
	if _, err := tty.Write([]byte("end")); err != nil {
		t.Fatal(err)
	}
	n, err = master.Read(got)
	if err != nil || string(got[:n]) != "end" {
		t.Errorf("host received %q, %v; want just %q (no echo)", got[:n], err, "end")
	}

	if err := (LinuxSystem{}).Drain(tty, 2*time.Second); err != nil {
		t.Errorf("Drain on a terminal: %v", err)
	}
}

func TestDrainIgnoresNonTerminals(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "x"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := (LinuxSystem{}).Drain(f, time.Second); err != nil {
		t.Errorf("Drain of a regular file = %v, want nil", err)
	}
	// OpenStdio leaves non-terminals alone too.
	null, err := LinuxSystem{}.OpenStdio(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	null.Close()
}
