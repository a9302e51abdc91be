package image

import (
	"strings"
	"testing"
)

func TestManifestValidate(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*Manifest)
		phrase string // "" means valid
	}{
		{"valid", func(*Manifest) {}, ""},
		{"minimal", func(m *Manifest) { *m = Manifest{Entrypoint: []string{"/init"}, MemoryMiB: 16, VCPUs: 1} }, ""},
		{"max resources", func(m *Manifest) { m.MemoryMiB, m.VCPUs = MaxMemoryMiB, MaxVCPUs }, ""},
		{"no entrypoint", func(m *Manifest) { m.Entrypoint, m.Args = nil, nil }, "entrypoint is empty, and so are args"},
		{"program from args", func(m *Manifest) { m.Entrypoint = nil }, ""},
		{"program from args empty", func(m *Manifest) { m.Entrypoint, m.Args = nil, []string{""} }, "args[0] is empty"},
		{"empty program", func(m *Manifest) { m.Entrypoint = []string{""} }, "entrypoint is empty"},
		{"memory too small", func(m *Manifest) { m.MemoryMiB = 15 }, "memory_mib is 15, must be 16 to 65536 (MiB)"},
		{"memory too big", func(m *Manifest) { m.MemoryMiB = 65537 }, "memory_mib is 65537"},
		{"memory unset", func(m *Manifest) { m.MemoryMiB = 0 }, "memory_mib is 0"},
		{"no vcpus", func(m *Manifest) { m.VCPUs = 0 }, "vcpus is 0, must be 1 to 8"},
		{"too many vcpus", func(m *Manifest) { m.VCPUs = 9 }, "vcpus is 9"},
		{"NUL in arg", func(m *Manifest) { m.Args = []string{"a\x00b"} }, "args contains a NUL byte"},
		{"NUL in cmdline", func(m *Manifest) { m.Cmdline = "quiet\x00" }, "cmdline contains a NUL byte"},
		{"env without =", func(m *Manifest) { m.Env = []string{"PATH"} }, `env entry "PATH" is not of the form KEY=VALUE`},
		{"env empty key", func(m *Manifest) { m.Env = []string{"=x"} }, "KEY=VALUE"},
		{"relative workdir", func(m *Manifest) { m.WorkDir = "srv" }, `workdir "srv" is not an absolute path`},
		{"long hostname", func(m *Manifest) { m.Hostname = strings.Repeat("h", 65) }, "hostname is 65 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testManifest()
			tt.edit(m)
			err := m.Validate()
			if tt.phrase == "" {
				if err != nil {
					t.Errorf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.phrase) {
				t.Errorf("Validate = %v, want an error saying %q", err, tt.phrase)
			}
			if _, err := EncodeManifest(m); err == nil {
				t.Error("EncodeManifest accepted an invalid manifest")
			}
		})
	}
}

func TestDecodeManifest(t *testing.T) {
	good, err := EncodeManifest(testManifest())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		data   string
		phrase string
	}{
		{"encoded", string(good), ""},
		{"compact", `{"entrypoint":["/init"],"memory_mib":64,"vcpus":1}`, ""},
		{"unknown field", `{"entrypoint":["/init"],"memory_mib":64,"vcpus":1,"gpu":true}`, `unknown field "gpu"`},
		{"trailing data", `{"entrypoint":["/init"],"memory_mib":64,"vcpus":1} {}`, "unexpected data after"},
		{"not json", `entrypoint=/init`, "invalid manifest"},
		{"null", `null`, "entrypoint is empty"},
		{"wrong type", `{"entrypoint":"/init","memory_mib":64,"vcpus":1}`, "invalid manifest"},
		{"invalid values", `{"entrypoint":["/init"],"memory_mib":64,"vcpus":100}`, "vcpus is 100"},
		{"too big", `{"entrypoint":["/init"],"memory_mib":64,"vcpus":1,"args":["` + strings.Repeat("a", MaxManifestSize) + `"]}`, "more than the limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := DecodeManifest([]byte(tt.data))
			if tt.phrase == "" {
				if err != nil || m == nil {
					t.Errorf("DecodeManifest: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.phrase) {
				t.Errorf("DecodeManifest = %v, want an error saying %q", err, tt.phrase)
			}
		})
	}
}

// TestBadManifestInImage checks that an invalid manifest inside a well-formed
// image is reported as corruption of the manifest part.
func TestBadManifestInImage(t *testing.T) {
	img := build(t, testRuntime(), []testPart{{ManifestPart, []byte(`{"entrypoint":[],"memory_mib":64,"vcpus":1}`), Raw}}, nil)
	r := mustOpen(t, img)
	_, err := r.Manifest()
	wantErr(t, err, ErrCorrupt, ManifestPart, `part "manifest": invalid manifest: entrypoint is empty`)
	wantErr(t, r.Verify(), ErrCorrupt, ManifestPart, "entrypoint is empty")

	big := strings.Repeat(" ", MaxManifestSize+1)
	r = mustOpen(t, build(t, testRuntime(), []testPart{{ManifestPart, []byte(big), LZ4}}, nil))
	_, err = r.Manifest()
	wantErr(t, err, ErrCorrupt, ManifestPart, "more than the limit")
}
