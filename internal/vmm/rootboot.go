package vmm

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/smolvm/smolvm/internal/guest/protocol"
)

// setupRootBoot lets the kernel boot straight from the root disk: the run
// configuration is appended to the disk as the guest sees it, and the
// command line names the disk as root and smol-init as init.
func (m *Machine) setupRootBoot() error {
	root := m.cfg.Init.Root
	switch {
	case m.cfg.Initrd != nil:
		return errors.New("RootBoot with an initramfs")
	case len(m.cfg.Disks) == 0 || root == nil || !root.Booted || root.Device != protocol.RootDevice:
		return fmt.Errorf("RootBoot needs Disks[0] as Init.Root, booted, on %s", protocol.RootDevice)
	case !validFSType(root.FSType):
		return fmt.Errorf("RootBoot: filesystem type %q", root.FSType)
	}
	js, err := json.Marshal(m.initConfig())
	if err != nil {
		return err
	}
	d := m.cfg.Disks[0]
	tail, err := protocol.DiskConfigTail(d.Size, js)
	if err != nil {
		return err
	}
	disks := append([]Disk{{
		Backend:  withTail{d.Backend, d.Size, tail},
		Size:     d.Size + int64(len(tail)),
		ReadOnly: true,
		ID:       d.ID,
	}}, m.cfg.Disks[1:]...)
	m.cfg.Disks = disks
	m.rootCmdline = "root=" + protocol.RootDevice + " rootfstype=" + root.FSType + " ro init=" + protocol.RootInitPath
	return nil
}

// validFSType keeps the command line well formed: a filesystem type is
// a short lowercase word.
func validFSType(t string) bool {
	if t == "" || len(t) > 16 {
		return false
	}
	for _, c := range t {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// withTail is a disk of base's first size bytes followed by tail.
type withTail struct {
	base io.ReaderAt
	size int64
	tail []byte
}

func (w withTail) ReadAt(b []byte, off int64) (int, error) {
	n := 0
	if off < w.size {
		k := min(int64(len(b)), w.size-off)
		m, err := w.base.ReadAt(b[:k], off)
		if n = m; err != nil && !(errors.Is(err, io.EOF) && int64(m) == k) {
			return n, err
		}
	}
	if n < len(b) {
		t := off + int64(n) - w.size
		if t >= int64(len(w.tail)) {
			return n, io.EOF
		}
		n += copy(b[n:], w.tail[t:])
	}
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}
