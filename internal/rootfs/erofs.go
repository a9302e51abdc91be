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
	// LayoutAuto is LayoutBlock: with smol-init inside the root image the
	// guest kernel unpacks nothing at boot, whatever the root's size.
	LayoutAuto Layout = iota
	// LayoutInitramfs puts smol-init and the root in the initramfs.
	// Every initramfs byte is copied by the guest kernel at boot (on
	// hosts that emulate guest kernel code, a 2 MB smol-init alone costs
	// about ten seconds there).
	LayoutInitramfs
	// LayoutBlock makes an EROFS image the kernel boots from; the guest
	// reads it only where it is used, the host writing the data into
	// guest memory.
	LayoutBlock
)

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

// Result is a built root: the initramfs, or an EROFS image when the root
// lives on a block device. The EROFS image holds smol-init itself and the
// directories it mounts on, because the kernel boots straight from it
// (protocol.DiskConfigTail): no initramfs is unpacked at all.
type Result struct {
	Initramfs []byte
	EROFS     []byte
}

// BuildLayout builds the root filesystem with the given layout.
func BuildLayout(spec Spec, layout Layout) (*Result, error) {
	if layout == LayoutInitramfs {
		b, err := Build(spec)
		return &Result{Initramfs: b}, err
	}
	if len(spec.Init) == 0 {
		return nil, errors.New("no smol-init binary given")
	}
	img, err := mkEROFS(spec)
	if err != nil {
		return nil, err
	}
	return &Result{EROFS: img}, nil
}

// bootDirs are what smol-init needs in a root the kernel mounts
// read-only: mount points for its early mounts and its staging
// directories (initproc.StagingDir). Made only where the tree has
// nothing at that path.
var bootDirs = []struct {
	path string
	mode fs.FileMode
}{
	{"dev", 0o755}, {"proc", 0o555}, {"sys", 0o555}, {"tmp", fs.ModeSticky | 0o777}, {"run", 0o755},
	{".smolvm", 0o755}, {".smolvm/rw", 0o755}, {".smolvm/root", 0o755},
}

// stageBoot adds smol-init and bootDirs to a staged tree.
func stageBoot(stage string, init []byte) error {
	for _, d := range bootDirs {
		p := filepath.Join(stage, d.path)
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		if err := os.Mkdir(p, d.mode.Perm()); err != nil {
			return err
		}
		if err := os.Chmod(p, d.mode); err != nil { // umask, sticky bit
			return err
		}
	}
	return os.WriteFile(filepath.Join(stage, strings.TrimPrefix(InitPath, "/")), init, 0o755)
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
	if err := stageBoot(stage, spec.Init); err != nil {
		return nil, fmt.Errorf("stage smol-init: %w", err)
	}
	out := filepath.Join(tmp, "root.erofs")
	cmd := exec.Command(mkfs, "--quiet", "-T0", "-U"+erofsUUID, "-x-1", out, stage)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mkfs.erofs: %v: %s", err, strings.TrimSpace(string(msg)))
	}
	return os.ReadFile(out)
}
