package initproc

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// ReadHostSignals turns bytes from the host into signals: each byte that is
// a signal number (1-31) is sent to out as a syscall.Signal, any other byte
// is dropped. It returns when r fails (EOF, or any error but EINTR), which on
// the console means never.
//
// The VMM delivers host signals this way (internal/vmm: Machine.Signal puts
// the number on COM2's receive side, which is the guest's console). Which of
// them reach the program is decided by the supervisor (ForwardedSignals),
// exactly as for signals sent to smol-init inside the guest; the host sends
// only those anyway.
//
// Sends to out block: a backlog of host signals waits in the tty's and the
// UART's buffers rather than being dropped.
func ReadHostSignals(r io.Reader, out chan<- os.Signal) error {
	buf := make([]byte, 64)
	for {
		n, err := r.Read(buf)
		for _, b := range buf[:n] {
			if b >= 1 && b <= 31 {
				out <- syscall.Signal(b)
			}
		}
		switch {
		case err == nil, errors.Is(err, syscall.EINTR):
		default:
			return err
		}
	}
}
