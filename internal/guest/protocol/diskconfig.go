package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// When an image's root filesystem is a block device, the kernel mounts it
// as / itself and starts smol-init from it (RootInitPath): there is no
// initramfs to unpack, which on hosts that emulate guest kernel code is
// the largest single cost of a boot. The run configuration, which changes
// with every run, then travels at the end of the root disk: the VMM
// serves the image's root filesystem followed by a configuration tail,
//
//	[filesystem][zero padding to 512][JSON][zero padding to 512][trailer]
//
// where the trailer is one 512-byte sector: DiskConfigMagic, then the
// JSON's length as a little-endian uint32, then zeros. The filesystem
// ignores what follows its last block; smol-init reads the trailer from
// the device's last sector and the JSON before it.
const (
	// RootDevice is the root disk in the guest (the first virtio disk).
	RootDevice = "/dev/vda"
	// RootInitPath is smol-init's path inside a block-device root.
	RootInitPath = "/.smolvm/init"
	// DiskConfigMagic opens the trailer sector.
	DiskConfigMagic = "SMOLVMC1"
	// DiskSector is the unit the tail is aligned to.
	DiskSector = 512
	// MaxDiskConfig bounds the JSON a tail may declare, so a damaged
	// or hostile tail cannot make smol-init allocate without limit.
	MaxDiskConfig = 1 << 20
)

// ErrNoDiskConfig means the device ends without a configuration trailer.
var ErrNoDiskConfig = errors.New("no smolvm configuration at the end of the root disk")

func roundSector(n int64) int64 { return (n + DiskSector - 1) / DiskSector * DiskSector }

// DiskConfigTail returns what follows a filesystem of fsSize bytes: the
// padding, the JSON and the trailer. The tail starts at fsSize.
func DiskConfigTail(fsSize int64, js []byte) ([]byte, error) {
	if len(js) > MaxDiskConfig {
		return nil, fmt.Errorf("run configuration of %d bytes: at most %d", len(js), MaxDiskConfig)
	}
	start := roundSector(fsSize)
	tail := make([]byte, start-fsSize+roundSector(int64(len(js)))+DiskSector)
	copy(tail[start-fsSize:], js)
	trailer := tail[len(tail)-DiskSector:]
	copy(trailer, DiskConfigMagic)
	binary.LittleEndian.PutUint32(trailer[len(DiskConfigMagic):], uint32(len(js)))
	return tail, nil
}

// ReadDiskConfig returns the JSON at the end of a device of size bytes.
// Every value read is checked: the declared length against
// MaxDiskConfig and against the device's size.
func ReadDiskConfig(r io.ReaderAt, size int64) ([]byte, error) {
	if size < DiskSector || size%DiskSector != 0 {
		return nil, ErrNoDiskConfig
	}
	var trailer [DiskSector]byte
	if _, err := r.ReadAt(trailer[:], size-DiskSector); err != nil {
		return nil, fmt.Errorf("read configuration trailer: %w", err)
	}
	if string(trailer[:len(DiskConfigMagic)]) != DiskConfigMagic {
		return nil, ErrNoDiskConfig
	}
	n := int64(binary.LittleEndian.Uint32(trailer[len(DiskConfigMagic):]))
	if n > MaxDiskConfig || roundSector(n)+DiskSector > size {
		return nil, fmt.Errorf("configuration trailer declares %d bytes, more than the disk or the %d-byte limit holds", n, MaxDiskConfig)
	}
	js := make([]byte, n)
	if _, err := r.ReadAt(js, size-DiskSector-roundSector(n)); err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return js, nil
}
