package vmm

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/smolvm/smolvm/internal/kvm"
	"github.com/smolvm/smolvm/internal/virtio"
)

// Virtio notifications bypass the vCPU thread in both directions:
//
//   - A kick (the guest writing a queue index to QueueNotify) signals an
//     eventfd inside KVM (KVM_IOEVENTFD, one per queue, matching the
//     index) and the guest continues at once; a goroutine waiting on that
//     eventfd runs the device. Disk I/O and host writes happen beside
//     the guest, not instead of it.
//   - An interrupt is a write to an eventfd that KVM turns into an edge
//     on the device's line of the in-kernel irqchip (KVM_IRQFD), from
//     whichever goroutine completed the request.
//
// Where the host's KVM lacks either capability the VMM falls back to the
// exit path (QueueNotify handled by the vCPU that wrote it) and to
// KVM_IRQ_LINE.
//
// The ioeventfds are registered with KVM in the background
// (registerKicks), not before the first KVM_RUN: each registration
// waits for the host kernel to synchronise (an expedited SRCU grace
// period), which on nested hosts added 3 to 6 ms to the VMM's start-up
// for ten queues. Until a queue's ioeventfd is in place its kicks take
// the exit path, which serves them the same way; no guest driver kicks
// that early anyway.

// irqFD returns a function raising an edge on gsi through an eventfd, or
// m.edge(gsi) without KVM_CAP_IRQFD.
func (m *Machine) irqFD(gsi uint32) (func(), error) {
	if m.sys.CheckExtension(kvm.CapIRQFD) == 0 {
		return m.edge(gsi), nil
	}
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	m.irqFDs = append(m.irqFDs, fd)
	if err := m.vm.IRQFD(fd, gsi); err != nil {
		return nil, err
	}
	var one [8]byte
	binary.LittleEndian.PutUint64(one[:], 1)
	return func() {
		// EAGAIN means the counter is already non-zero: an interrupt
		// is pending anyway.
		unix.Write(fd, one[:])
	}, nil
}

// ioEventFDs routes kicks of every queue of t (at MMIO base) to
// goroutines, once registerKicks has told KVM; without KVM_CAP_IOEVENTFD
// kicks stay on the exit path.
func (m *Machine) ioEventFDs(t *virtio.MMIO, base uint64) error {
	if m.sys.CheckExtension(kvm.CapIOEventFD) == 0 {
		return nil
	}
	for q := range t.NumQueues() {
		fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			return fmt.Errorf("eventfd: %w", err)
		}
		// The runtime's poller waits on the eventfd: no thread is
		// parked per queue.
		f := os.NewFile(uintptr(fd), fmt.Sprintf("virtio-%#x-q%d", base, q))
		m.kicks = append(m.kicks, f)
		m.pendingKicks = append(m.pendingKicks, pendingKick{fd: fd, addr: base + virtio.QueueNotifyOffset, queue: uint64(q)})
		m.kickWG.Add(1)
		go func() {
			defer m.kickWG.Done()
			var buf [8]byte
			for {
				if _, err := f.Read(buf[:]); err != nil {
					return // closed by Close
				}
				t.Notify(uint32(q))
			}
		}()
	}
	return nil
}

// pendingKick is an ioeventfd not yet registered with KVM.
type pendingKick struct {
	fd    int
	addr  uint64
	queue uint64
}

// registerKicks registers the pending ioeventfds with KVM from a
// goroutine; stopKicks waits for it. A registration that fails leaves
// that queue's kicks, and those of the queues after it, on the exit
// path, which works the same, only through the vCPU thread.
func (m *Machine) registerKicks() {
	kicks := m.pendingKicks
	m.pendingKicks = nil
	m.kickReg.Add(1)
	go func() {
		defer m.kickReg.Done()
		for _, k := range kicks {
			match := k.queue
			if err := m.vm.IOEventFD(k.fd, k.addr, 4, false, &match); err != nil {
				return
			}
		}
	}()
}

// stopKicks stops the kick goroutines, waiting for a Notify in progress
// (which may touch guest memory).
func (m *Machine) stopKicks() {
	m.kickReg.Wait() // no registration in flight on an fd closed below
	for _, f := range m.kicks {
		f.Close()
	}
	m.kickWG.Wait()
	m.kicks = nil
}

// closeIRQFDs releases the interrupt eventfds, once no device can raise
// an interrupt any more.
func (m *Machine) closeIRQFDs() {
	for _, fd := range m.irqFDs {
		unix.Close(fd)
	}
	m.irqFDs = nil
}
