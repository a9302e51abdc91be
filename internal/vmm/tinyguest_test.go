package vmm

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/smolvm/smolvm/internal/arch/x86"
	"github.com/smolvm/smolvm/internal/guest/protocol"
	"github.com/smolvm/smolvm/internal/kvm"
	"github.com/smolvm/smolvm/internal/loader/loadertest"
	"github.com/smolvm/smolvm/internal/vmlinux"
)

// These tests boot tiny hand-built guests instead of Linux: 32-bit code
// entered through the same PVH path, exercising the VMM's exit handling
// in milliseconds (see docs/testing.md for the layers).

const tinyLoadAddr = 0x100000

// tinyKernel wraps code as the VMM takes kernels: an ELF with a PVH
// note, flattened as images store it.
func tinyKernel(code []byte) []byte {
	flat, err := vmlinux.Flatten(loadertest.ELF(tinyLoadAddr, code, true, 4))
	if err != nil {
		panic(err)
	}
	return flat
}

// asm helpers for 32-bit code.
func outb(port uint16, v byte) []byte {
	return []byte{0x66, 0xba, byte(port), byte(port >> 8), 0xb0, v, 0xee} // mov dx, port; mov al, v; out dx, al
}

var hang = []byte{0xf4, 0xeb, 0xfd} // hlt; jmp back

func runTiny(t *testing.T, code []byte) (*Result, string, error) {
	t.Helper()
	if _, err := os.Stat(kvm.DevicePath); err != nil {
		t.Skipf("no %s: KVM tests need a host with KVM", kvm.DevicePath)
	}
	var out bytes.Buffer
	m, err := New(Config{
		Kernel:     bytes.NewReader(tinyKernel(code)),
		Initrd:     strings.NewReader("initrd"),
		InitrdSize: 6,
		Init:       protocol.Config{Argv: []string{"x"}},
		MemoryMiB:  16,
		VCPUs:      1,
		Stdout:     &out,
		Compat:     CompatNever,
	})
	if err != nil {
		if errors.Is(err, kvm.ErrNoKVM) {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	defer m.Close()
	res, err := m.Run()
	return res, out.String(), err
}

func TestTinyGuestSerialAndExitStatus(t *testing.T) {
	var code []byte
	for _, c := range []byte("hi\n") {
		code = append(code, outb(x86.COM1Port, c)...)
	}
	code = append(code, outb(x86.ControlPortMarker, protocol.MarkerProgramStart)...)
	code = append(code, outb(x86.ControlPortExit, 42)...)
	code = append(code, hang...)
	res, out, err := runTiny(t, code)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 42 {
		t.Errorf("status = %d, want 42", res.Status)
	}
	if out != "hi\n" {
		t.Errorf("stdout = %q, want %q", out, "hi\n")
	}
	if res.VMMRSSKiB <= 0 {
		t.Errorf("VMM RSS outside guest RAM = %d KiB, want a measurement", res.VMMRSSKiB)
	}
	if res.Timings.ProgramStart.IsZero() || res.Timings.FirstRun.IsZero() {
		t.Errorf("markers not timestamped: %+v", res.Timings)
	}
}

func TestTinyGuestI8042ResetWithoutStatus(t *testing.T) {
	code := append(outb(x86.I8042CommandPort, 0xfe), hang...)
	_, _, err := runTiny(t, code)
	if !errors.Is(err, ErrNoStatus) {
		t.Fatalf("err = %v, want ErrNoStatus", err)
	}
}

func TestTinyGuestInitError(t *testing.T) {
	code := append(outb(x86.ControlPortInitError, 1), hang...)
	_, _, err := runTiny(t, code)
	if !errors.Is(err, ErrInit) {
		t.Fatalf("err = %v, want ErrInit", err)
	}
}

func TestTinyGuestTripleFaultIsDiagnosed(t *testing.T) {
	// ud2 with no IDT: #UD cannot be delivered, nor can #DF: the CPU
	// shuts down. The VMM must report it with registers, not hang.
	_, _, err := runTiny(t, []byte{0x0f, 0x0b})
	var ge *GuestError
	if !errors.As(err, &ge) {
		t.Fatalf("err = %v, want a GuestError", err)
	}
	if ge.Reason != kvm.ExitShutdown {
		t.Errorf("reason = %v, want KVM_EXIT_SHUTDOWN", ge.Reason)
	}
	if ge.Regs.Rip < tinyLoadAddr || ge.Regs.Rip > tinyLoadAddr+2 {
		t.Errorf("rip = %#x, want near %#x", ge.Regs.Rip, tinyLoadAddr)
	}
	if !strings.Contains(err.Error(), "triple fault") || !strings.Contains(err.Error(), "rip=") {
		t.Errorf("message lacks diagnosis: %v", err)
	}
}

func TestTinyGuestUnknownPortsAndMMIO(t *testing.T) {
	// Reads of a port nobody claims return all ones; the guest reports
	// the byte it read as its exit status. An MMIO write to the hole is
	// dropped without ending the run.
	code := []byte{
		0xc7, 0x05, 0x00, 0x00, 0x00, 0xd0, 0x01, 0x00, 0x00, 0x00, // mov dword [0xd0000000], 1
		0x66, 0xba, 0x34, 0x12, // mov dx, 0x1234
		0xec, // in al, dx
		0x66, 0xba, byte(x86.ControlPortExit & 0xff), byte(x86.ControlPortExit >> 8),
		0xee, // out dx, al
	}
	code = append(code, hang...)
	res, _, err := runTiny(t, code)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 0xff {
		t.Errorf("status = %#x, want 0xff from an unclaimed port", res.Status)
	}
}

// TestTinyGuestELFRefused: the VMM takes flat kernels only; an ELF
// vmlinux handed to it directly is refused with a message saying so,
// before anything runs.
func TestTinyGuestELFRefused(t *testing.T) {
	if _, err := os.Stat(kvm.DevicePath); err != nil {
		t.Skipf("no %s", kvm.DevicePath)
	}
	elfKernel := loadertest.ELF(tinyLoadAddr, append(outb(x86.ControlPortExit, 9), hang...), true, 4)
	cfg := Config{Kernel: bytes.NewReader(elfKernel), MemoryMiB: 16, VCPUs: 1, Compat: CompatNever, Init: protocol.Config{Argv: []string{"x"}}}
	m, err := New(cfg)
	if err == nil {
		m.Close()
		t.Fatal("New took an ELF kernel")
	}
	if !strings.Contains(err.Error(), "flat format") {
		t.Errorf("err = %v, want it to say the kernel is not in the flat format", err)
	}
}

// failAtEOF stands for a verifying reader whose digest does not match:
// all data reads fine, the end of the stream is an error.
type failAtEOF struct{ r io.Reader }

var errDigest = errors.New("digest mismatch")

func (f failAtEOF) Read(b []byte) (int, error) {
	n, err := f.r.Read(b)
	if err == io.EOF {
		return n, errDigest
	}
	return n, err
}

func TestVerdictAtEndOfStreamStopsBoot(t *testing.T) {
	if _, err := os.Stat(kvm.DevicePath); err != nil {
		t.Skipf("no %s", kvm.DevicePath)
	}
	flat := tinyKernel(hang)
	for name, cfg := range map[string]Config{
		"kernel": {Kernel: failAtEOF{bytes.NewReader(flat)}},
		"initrd": {Kernel: bytes.NewReader(flat), Initrd: failAtEOF{strings.NewReader("abcd")}, InitrdSize: 4},
	} {
		cfg.MemoryMiB, cfg.VCPUs, cfg.Compat = 16, 1, CompatNever
		m, err := New(cfg)
		if err == nil {
			m.Close()
		}
		if !errors.Is(err, errDigest) {
			t.Errorf("%s: New err = %v, want the reader's verdict", name, err)
		}
	}
}

func TestInitrdOverlappingKernelRefused(t *testing.T) {
	if _, err := os.Stat(kvm.DevicePath); err != nil {
		t.Skipf("no %s", kvm.DevicePath)
	}
	size := int64(15 << 20) // 16 MiB of RAM, kernel at 1 MiB
	m, err := New(Config{
		Kernel:     bytes.NewReader(tinyKernel(hang)),
		Initrd:     io.LimitReader(zeros{}, size),
		InitrdSize: size,
		MemoryMiB:  16, VCPUs: 1, Compat: CompatNever,
	})
	if err == nil {
		m.Close()
		t.Fatal("an initramfs overlapping the kernel was accepted")
	}
	if !strings.Contains(err.Error(), "give the VM more memory") {
		t.Errorf("err = %v, want advice to give more memory", err)
	}
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) { clear(b); return len(b), nil }

func TestTinyGuestSeesVirtioMMIO(t *testing.T) {
	if _, err := os.Stat(kvm.DevicePath); err != nil {
		t.Skipf("no %s", kvm.DevicePath)
	}
	// Device IDs of the first and third virtio-mmio devices, reported
	// as 16*first + third: the console must come first (its ports are
	// named after its position), then rng, then the disks.
	// mov eax, [VirtioMMIOBase + 8]; shl eax, 4; add eax, [VirtioMMIOBase + 2*stride + 8]
	code := []byte{0xa1, 0x08, 0x00, 0x00, 0xd0, 0xc1, 0xe0, 0x04, 0x03, 0x05, 0x08, 0x20, 0x00, 0xd0}
	code = append(code, 0x66, 0xba, byte(x86.ControlPortExit&0xff), byte(x86.ControlPortExit>>8), 0xee)
	code = append(code, hang...)
	m, err := New(Config{
		Kernel:    bytes.NewReader(tinyKernel(code)),
		MemoryMiB: 16, VCPUs: 1, Compat: CompatNever,
		Disks: []Disk{{Backend: strings.NewReader(strings.Repeat("x", 4096)), Size: 4096}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !strings.Contains(m.Cmdline(), "virtio_mmio.device=4K@0xd0000000:5") {
		t.Errorf("command line lacks the device: %s", m.Cmdline())
	}
	res, err := m.Run()
	if want := 16*3 + 2; err != nil || res.Status != want {
		t.Fatalf("status %v err %v, want %d (console's device ID 3 first, block device ID 2 third)", res, err, want)
	}
}
