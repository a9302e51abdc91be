package kvm

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ioctl issues one ioctl with an integer argument, retrying on EINTR (the
// Go runtime's preemption signals interrupt blocking ioctls).
func ioctl(fd int, name string, req uintptr, arg uintptr) (uintptr, error) {
	for {
		r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, arg)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return r, fmt.Errorf("%s: %w", name, errno)
		}
		return r, nil
	}
}

// ioctlPtr passes a pointer to a mirrored kernel struct. The pointer is
// converted inside the Syscall call expression, which keeps the object
// alive and on the heap for the duration of the call.
func ioctlPtr[T any](fd int, name string, req uintptr, v *T) error {
	for {
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(unsafe.Pointer(v)))
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return fmt.Errorf("%s: %w", name, errno)
		}
		return nil
	}
}

// ioctlBuf passes a byte buffer holding a variable-length kernel struct
// (kvm_msrs, kvm_cpuid2: a header followed by entries) and returns the
// ioctl's result.
func ioctlBuf(fd int, name string, req uintptr, b []byte) (uintptr, error) {
	for {
		r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(unsafe.Pointer(&b[0])))
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return r, fmt.Errorf("%s: %w", name, errno)
		}
		return r, nil
	}
}

// asBytes views a mirrored struct as bytes (for building kvm_msrs etc.).
func asBytes[T any](v *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v))
}

// fromBytes copies a mirrored struct out of a byte buffer.
func fromBytes[T any](b []byte) T {
	var v T
	copy(asBytes(&v), b)
	return v
}

// sizeOf reports the size of a mirrored struct.
func sizeOf[T any]() int {
	var v T
	return int(unsafe.Sizeof(v))
}
