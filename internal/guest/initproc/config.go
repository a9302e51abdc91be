package initproc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/smolvm/smolvm/internal/guest/protocol"
)

// MaxConfigSize is the largest configuration smol-init accepts. The kernel
// refuses an execve whose arguments and environment exceed about 2 MiB (a
// quarter of the default stack limit), so a real configuration is far below
// this; the cap only keeps a broken host from making PID 1 allocate without
// bound in a small guest.
const MaxConfigSize = 1 << 20

// maxHostname is the kernel's HOST_NAME_MAX.
const maxHostname = 64

// ReadConfig reads and validates the configuration file at path.
func ReadConfig(path string) (*protocol.Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	cfg, err := ParseConfig(f)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// ReadDiskConfig reads the configuration from the end of the block
// device at path (see protocol.DiskConfigTail).
func ReadDiskConfig(path string) (*protocol.Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("config: size of %s: %w", path, err)
	}
	js, err := protocol.ReadDiskConfig(f, size)
	if err != nil {
		return nil, fmt.Errorf("config on %s: %w", path, err)
	}
	cfg, err := ParseConfig(bytes.NewReader(js))
	if err != nil {
		return nil, fmt.Errorf("config on %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig decodes one JSON protocol.Config from r and validates it. It
// rejects input larger than MaxConfigSize, unknown fields (a host newer than
// this smol-init would otherwise be silently misunderstood), trailing data,
// and configurations that could not be executed (see validate).
func ParseConfig(r io.Reader) (*protocol.Config, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxConfigSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxConfigSize {
		return nil, fmt.Errorf("larger than %d bytes", MaxConfigSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var cfg protocol.Config
	if err := dec.Decode(&cfg); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON object")
	}
	if err := validate(&cfg); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// validate checks what the kernel or smol-init would otherwise fail on later
// with a less clear message: an empty argv, NUL bytes (execve and
// sethostname take C strings), environment entries without "=", a relative
// workdir (relative to what? the host cannot know smol-init's cwd), a
// hostname longer than HOST_NAME_MAX, and an unusable Root (validateRoot).
func validate(cfg *protocol.Config) error {
	if len(cfg.Argv) == 0 {
		return errors.New("argv is empty")
	}
	if cfg.Argv[0] == "" {
		return errors.New("argv[0] is empty")
	}
	for i, a := range cfg.Argv {
		if strings.IndexByte(a, 0) >= 0 {
			return fmt.Errorf("argv[%d] contains a NUL byte", i)
		}
	}
	for i, e := range cfg.Env {
		if strings.IndexByte(e, 0) >= 0 {
			return fmt.Errorf("env[%d] contains a NUL byte", i)
		}
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return fmt.Errorf("env[%d] %q is not KEY=VALUE", i, e)
		}
	}
	if cfg.WorkDir != "" {
		if strings.IndexByte(cfg.WorkDir, 0) >= 0 {
			return errors.New("workdir contains a NUL byte")
		}
		if !path.IsAbs(cfg.WorkDir) {
			return fmt.Errorf("workdir %q is not an absolute path", cfg.WorkDir)
		}
	}
	if len(cfg.Hostname) > maxHostname {
		return fmt.Errorf("hostname is longer than %d bytes", maxHostname)
	}
	if strings.IndexByte(cfg.Hostname, 0) >= 0 {
		return errors.New("hostname contains a NUL byte")
	}
	if cfg.Root != nil {
		if err := validateRoot(cfg.Root); err != nil {
			return fmt.Errorf("root: %w", err)
		}
	}
	return nil
}

// validateRoot checks a protocol.Root: an absolute device path and a
// filesystem type (mount(2) takes both as C strings), and a size that is
// not negative (0 means DefaultTmpfsMiB).
func validateRoot(r *protocol.Root) error {
	switch {
	case strings.IndexByte(r.Device, 0) >= 0:
		return errors.New("device contains a NUL byte")
	case !path.IsAbs(r.Device):
		return fmt.Errorf("device %q is not an absolute path", r.Device)
	case r.FSType == "":
		return errors.New("fstype is empty")
	case strings.IndexByte(r.FSType, 0) >= 0:
		return errors.New("fstype contains a NUL byte")
	case r.TmpfsMiB < 0:
		return fmt.Errorf("tmpfs_mib %d is negative", r.TmpfsMiB)
	}
	return nil
}
