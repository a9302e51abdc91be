package kvm

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// DevicePath is the KVM device node.
const DevicePath = "/dev/kvm"

// ErrNoKVM is returned (wrapped) when /dev/kvm is missing or not usable.
var ErrNoKVM = errors.New("KVM is not available")

// System is an open /dev/kvm.
type System struct {
	fd int
}

// Open opens /dev/kvm and checks its API version. Its errors say what to
// do, because a missing or unreadable /dev/kvm is the most common failure
// a new user meets.
func Open() (*System, error) {
	fd, err := unix.Open(DevicePath, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		switch {
		case errors.Is(err, unix.ENOENT):
			return nil, fmt.Errorf("%w: %s does not exist: enable virtualization (VT-x/AMD-V) in the firmware or, in a cloud VM, nested virtualization, and load the kvm_intel or kvm_amd module", ErrNoKVM, DevicePath)
		case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
			return nil, fmt.Errorf("%w: no permission to open %s: add yourself to its group (usually: sudo usermod -aG kvm $USER, then log in again) or run as root", ErrNoKVM, DevicePath)
		default:
			return nil, fmt.Errorf("%w: open %s: %v", ErrNoKVM, DevicePath, err)
		}
	}
	s := &System{fd: fd}
	v, err := ioctl(fd, "KVM_GET_API_VERSION", ioctlGetAPIVersion, 0)
	if err != nil {
		s.Close()
		return nil, err
	}
	if v != APIVersion {
		s.Close()
		return nil, fmt.Errorf("%w: %s reports API version %d, want %d", ErrNoKVM, DevicePath, v, APIVersion)
	}
	return s, nil
}

// Close closes /dev/kvm. VMs created from it stay valid.
func (s *System) Close() error { return unix.Close(s.fd) }

// CheckExtension returns the value KVM_CHECK_EXTENSION reports for cap
// (0 when absent; some capabilities report a count).
func (s *System) CheckExtension(cap int) int {
	r, err := ioctl(s.fd, "KVM_CHECK_EXTENSION", ioctlCheckExtension, uintptr(cap))
	if err != nil {
		return 0
	}
	return int(r)
}

// VCPUMmapSize is the size of the kvm_run area each vCPU fd maps.
func (s *System) VCPUMmapSize() (int, error) {
	r, err := ioctl(s.fd, "KVM_GET_VCPU_MMAP_SIZE", ioctlGetVCPUMmapSize, 0)
	return int(r), err
}

// maxCPUIDEntries bounds the kvm_cpuid2 buffer; KVM reports E2BIG when it
// needs more, and real hosts need well under this.
const maxCPUIDEntries = 256

// SupportedCPUID returns KVM_GET_SUPPORTED_CPUID: what KVM can expose.
func (s *System) SupportedCPUID() ([]CPUIDEntry2, error) {
	return getCPUID(s.fd, "KVM_GET_SUPPORTED_CPUID", ioctlGetSupportedCPUID)
}

func getCPUID(fd int, name string, req uintptr) ([]CPUIDEntry2, error) {
	esz := sizeOf[CPUIDEntry2]()
	buf := make([]byte, 8+maxCPUIDEntries*esz)
	binary.LittleEndian.PutUint32(buf, maxCPUIDEntries)
	if _, err := ioctlBuf(fd, name, req, buf); err != nil {
		return nil, err
	}
	n := int(binary.LittleEndian.Uint32(buf))
	if n > maxCPUIDEntries {
		return nil, fmt.Errorf("%s: %d entries, more than %d", name, n, maxCPUIDEntries)
	}
	out := make([]CPUIDEntry2, n)
	for i := range out {
		out[i] = fromBytes[CPUIDEntry2](buf[8+i*esz:])
	}
	return out, nil
}

// CreateVM creates a virtual machine with no memory and no vCPUs.
func (s *System) CreateVM() (*VM, error) {
	r, err := ioctl(s.fd, "KVM_CREATE_VM", ioctlCreateVM, 0)
	if err != nil {
		return nil, err
	}
	size, err := s.VCPUMmapSize()
	if err != nil {
		unix.Close(int(r))
		return nil, err
	}
	return &VM{fd: int(r), runSize: size}, nil
}
