package image

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/smolvm/smolvm/internal/guest/protocol"
)

// Manifest limits, checked by Validate.
const (
	MinMemoryMiB = 16    // below this the kernel does not boot
	MaxMemoryMiB = 65536 // 64 GiB
	MinVCPUs     = 1
	MaxVCPUs     = 8

	// MaxManifestSize caps the manifest part; real manifests are well
	// under a kilobyte.
	MaxManifestSize = 64 << 10

	// maxHostname is Linux's HOST_NAME_MAX.
	maxHostname = 64
)

// Manifest says how to boot an image and what to run in it. It is stored as
// JSON in the "manifest" part.
type Manifest struct {
	Entrypoint    []string `json:"entrypoint"`               // program and its first arguments
	Args          []string `json:"args,omitempty"`           // default arguments appended to Entrypoint (the program itself when Entrypoint is empty, like an image with CMD only)
	Env           []string `json:"env,omitempty"`            // KEY=VALUE
	WorkDir       string   `json:"workdir,omitempty"`        // absolute path in the guest
	MemoryMiB     int      `json:"memory_mib"`               // guest RAM
	VCPUs         int      `json:"vcpus"`                    // virtual CPUs
	Cmdline       string   `json:"cmdline,omitempty"`        // extra kernel command line
	Hostname      string   `json:"hostname,omitempty"`       // guest hostname
	SmolvmVersion string   `json:"smolvm_version,omitempty"` // version of smolvm that built the image

	// User is who the program runs as (nil: root), resolved at build
	// time against the root filesystem's /etc/passwd and /etc/group.
	User *protocol.User `json:"user,omitempty"`
}

// Validate reports the first problem that would stop the manifest from
// booting, in terms of its JSON field names.
func (m *Manifest) Validate() error {
	// Run-time arguments replace Args, so with an empty Entrypoint the
	// program comes from Args (or from the arguments at run time).
	switch {
	case len(m.Entrypoint) == 0 && len(m.Args) == 0:
		return errors.New("invalid manifest: entrypoint is empty, and so are args; one must name the program to run")
	case len(m.Entrypoint) > 0 && m.Entrypoint[0] == "":
		return errors.New("invalid manifest: entrypoint is empty; it must name the program to run")
	case len(m.Entrypoint) == 0 && m.Args[0] == "":
		return errors.New("invalid manifest: entrypoint is empty and args[0] is empty; one must name the program to run")
	}
	if m.MemoryMiB < MinMemoryMiB || m.MemoryMiB > MaxMemoryMiB {
		return fmt.Errorf("invalid manifest: memory_mib is %d, must be %d to %d (MiB)", m.MemoryMiB, MinMemoryMiB, MaxMemoryMiB)
	}
	if m.VCPUs < MinVCPUs || m.VCPUs > MaxVCPUs {
		return fmt.Errorf("invalid manifest: vcpus is %d, must be %d to %d", m.VCPUs, MinVCPUs, MaxVCPUs)
	}
	// Strings end up in argv, environ, a path or the kernel command line,
	// all NUL-terminated: a NUL would silently cut them short.
	for _, f := range []struct {
		name string
		vals []string
	}{
		{"entrypoint", m.Entrypoint},
		{"args", m.Args},
		{"env", m.Env},
		{"workdir", []string{m.WorkDir}},
		{"cmdline", []string{m.Cmdline}},
		{"hostname", []string{m.Hostname}},
	} {
		for _, v := range f.vals {
			if strings.IndexByte(v, 0) >= 0 {
				return fmt.Errorf("invalid manifest: %s contains a NUL byte: %s", f.name, quote(v))
			}
		}
	}
	for _, kv := range m.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("invalid manifest: env entry %s is not of the form KEY=VALUE", quote(kv))
		}
	}
	if m.WorkDir != "" && !path.IsAbs(m.WorkDir) {
		return fmt.Errorf("invalid manifest: workdir %s is not an absolute path", quote(m.WorkDir))
	}
	if len(m.Hostname) > maxHostname {
		return fmt.Errorf("invalid manifest: hostname is %d bytes, longer than %d", len(m.Hostname), maxHostname)
	}
	return nil
}

// EncodeManifest validates m and returns it as the bytes of a manifest part:
// indented JSON (readable in the file) ending in a newline. The encoding is
// deterministic.
func EncodeManifest(m *Manifest) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// DecodeManifest parses and validates the bytes of a manifest part. Unknown
// fields are refused: a field this smolvm does not know is a setting it
// would silently ignore.
func DecodeManifest(data []byte) (*Manifest, error) {
	if len(data) > MaxManifestSize {
		return nil, fmt.Errorf("invalid manifest: %d bytes, more than the limit of %d", len(data), MaxManifestSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("invalid manifest: %w", shorten(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("invalid manifest: unexpected data after the JSON object")
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}
