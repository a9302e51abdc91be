package rootfs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Where the root filesystem goes.
type Layout int

const (
	// LayoutAuto picks the initramfs for roots up to BlockThreshold bytes
	// and an EROFS block device above.
	LayoutAuto Layout = iota
	LayoutInitramfs
	LayoutBlock
)

// BlockThreshold is the root size above which LayoutAuto uses a block
// device. Every initramfs byte is copied by the guest kernel at boot (on
// hosts that emulate guest kernel code, ~7 µs per byte); a block device
// is read by the guest only where the program touches it, the host
// writing the data into guest memory.
const BlockThreshold = 1 << 20

// ParseLayout reads a --root value.
func ParseLayout(s string) (Layout, error) {
	switch s {
	case "", "auto":
		return LayoutAuto, nil
	case "initramfs":
		return LayoutInitramfs, nil
	case "erofs", "block":
		return LayoutBlock, nil
	}
	return 0, fmt.Errorf("--root %q: want auto, initramfs or erofs", s)
}

// Result is a built root: the initramfs, and an EROFS image when the root
// lives on a block device (the initramfs then holds only smol-init).
type Result struct {
	Initramfs []byte
	EROFS     []byte
}

// BuildLayout builds the root filesystem with the given layout.
func BuildLayout(spec Spec, layout Layout) (*Result, error) {
	if layout == LayoutAuto {
		n, err := contentSize(spec)
		if err != nil {
			return nil, err
		}
		layout = LayoutInitramfs
		if n > BlockThreshold {
			layout = LayoutBlock
		}
	}
	if layout == LayoutInitramfs {
		b, err := Build(spec)
		return &Result{Initramfs: b}, err
	}
	img, err := mkEROFS(spec)
	if err != nil {
		return nil, err
	}
	initrd, err := Build(Spec{Init: spec.Init})
	if err != nil {
		return nil, err
	}
	return &Result{Initramfs: initrd, EROFS: img}, nil
}

// contentSize is the bytes of regular files the root would hold.
func contentSize(spec Spec) (int64, error) {
	var n int64
	if spec.Tar != "" {
		var err error
		if n, err = tarSize(spec.Tar); err != nil {
			return 0, err
		}
	}
	ps, err := spec.placements()
	if err != nil {
		return 0, err
	}
	for _, p := range ps {
		m, err := p.size()
		if err != nil {
			return 0, err
		}
		n += m
	}
	if spec.Dir == "" {
		return n, nil
	}
	err = filepath.WalkDir(spec.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	return n, err
}

// erofsUUID is fixed so that the same tree gives the same image.
const erofsUUID = "736d6f6c-766d-0000-0000-000000000000"

// mkEROFS stages the tree (the tar, the directory, then the binaries with
// their libraries and the added files) and
// packs it with mkfs.erofs, uncompressed: decompressing in the guest
// would be guest kernel work. Timestamps and UUID are fixed.
func mkEROFS(spec Spec) ([]byte, error) {
	mkfs, err := exec.LookPath("mkfs.erofs")
	if err != nil {
		return nil, errors.New("mkfs.erofs not found: install erofs-utils (apt-get install erofs-utils), or use --root initramfs")
	}
	tmp, err := os.MkdirTemp("", "smolvm-root-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	stage := filepath.Join(tmp, "root")
	if err := os.Mkdir(stage, 0o755); err != nil {
		return nil, err
	}
	if spec.Tar != "" {
		if err := extractTar(spec.Tar, stage); err != nil {
			return nil, err
		}
	}
	if spec.Dir != "" {
		// cp -a keeps modes, owners, links and device nodes.
		if out, err := exec.Command("cp", "-a", "--", spec.Dir+"/.", stage+"/").CombinedOutput(); err != nil {
			return nil, fmt.Errorf("copy %s: %v: %s", spec.Dir, err, bytes.TrimSpace(out))
		}
	}
	ps, err := spec.placements()
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		if err := p.stage(stage); err != nil {
			return nil, err
		}
	}
	out := filepath.Join(tmp, "root.erofs")
	cmd := exec.Command(mkfs, "--quiet", "-T0", "-U"+erofsUUID, "-x-1", out, stage)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mkfs.erofs: %v: %s", err, strings.TrimSpace(string(msg)))
	}
	return os.ReadFile(out)
}
