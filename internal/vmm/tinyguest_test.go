package vmm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/smolvm/smolvm/internal/arch/x86"
	"github.com/smolvm/smolvm/internal/guest/protocol"
	"github.com/smolvm/smolvm/internal/kvm"
)

// These tests boot tiny hand-built guests instead of Linux: 32-bit code
// entered through the same PVH path, exercising the VMM's exit handling
// in milliseconds (see docs/testing.md for the layers).

const tinyLoadAddr = 0x100000

// tinyKernel wraps 32-bit code in an ELF vmlinux with a PVH note, the
// smallest thing LoadKernel accepts.
func tinyKernel(code []byte) []byte {
	le := binary.LittleEndian
	const codeOff, noteOff = 0x1000, 0x800
	note := make([]byte, 20)
	le.PutUint32(note[0:], 4)  // namesz
	le.PutUint32(note[4:], 4)  // descsz
	le.PutUint32(note[8:], 18) // XEN_ELFNOTE_PHYS32_ENTRY
	copy(note[12:], "Xen\x00")
	le.PutUint32(note[16:], tinyLoadAddr)

	f := make([]byte, codeOff+len(code))
	copy(f, "\x7fELF\x02\x01\x01")
	le.PutUint16(f[16:], 2)  // ET_EXEC
	le.PutUint16(f[18:], 62) // EM_X86_64
	le.PutUint32(f[20:], 1)
	le.PutUint64(f[24:], tinyLoadAddr)
	le.PutUint64(f[32:], 64) // program headers right after the header
	le.PutUint16(f[52:], 64)
	le.PutUint16(f[54:], 56)
	le.PutUint16(f[56:], 2)
	ph := func(i int, typ uint32, off, addr, size uint64) {
		p := f[64+56*i:]
		le.PutUint32(p[0:], typ)
		le.PutUint32(p[4:], 5)
		le.PutUint64(p[8:], off)
		le.PutUint64(p[16:], addr)
		le.PutUint64(p[24:], addr)
		le.PutUint64(p[32:], size)
		le.PutUint64(p[40:], size)
		le.PutUint64(p[48:], 4)
	}
	ph(0, 1, codeOff, tinyLoadAddr, uint64(len(code))) // PT_LOAD
	ph(1, 4, noteOff, 0, uint64(len(note)))            // PT_NOTE
	copy(f[noteOff:], note)
	copy(f[codeOff:], code)
	return f
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
		Kernel:    tinyKernel(code),
		Initrd:    []byte("initrd"),
		Init:      protocol.Config{Argv: []string{"x"}},
		MemoryMiB: 16,
		VCPUs:     1,
		Stdout:    &out,
		Compat:    CompatNever,
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
