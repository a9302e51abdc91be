package initproc

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseConfigValid(t *testing.T) {
	in := `{"argv":["busybox","sh","-c","echo hi"],"env":["A=1","B="],"workdir":"/srv","hostname":"h","debug":true}`
	cfg, err := ParseConfig(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Argv, []string{"busybox", "sh", "-c", "echo hi"}) ||
		!slices.Equal(cfg.Env, []string{"A=1", "B="}) ||
		cfg.WorkDir != "/srv" || cfg.Hostname != "h" || !cfg.Debug {
		t.Errorf("ParseConfig = %+v", cfg)
	}
	// Only argv is required; trailing whitespace is fine.
	cfg, err = ParseConfig(strings.NewReader(`{"argv":["/init"]}` + "\n\t "))
	if err != nil || cfg.WorkDir != "" || cfg.Env != nil || cfg.Debug {
		t.Errorf("minimal config = %+v, %v", cfg, err)
	}
}

func TestParseConfigSizeCap(t *testing.T) {
	base := `{"argv":["true"]}`
	// Exactly at the cap (padded with whitespace) is accepted...
	atCap := base + strings.Repeat(" ", MaxConfigSize-len(base))
	if _, err := ParseConfig(strings.NewReader(atCap)); err != nil {
		t.Errorf("config of exactly MaxConfigSize bytes: %v", err)
	}
	// ...one byte more is not, whatever it contains.
	if _, err := ParseConfig(strings.NewReader(atCap + " ")); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversize config: err = %v, want a size error", err)
	}
	huge := `{"argv":["` + strings.Repeat("a", 2*MaxConfigSize) + `"]}`
	if _, err := ParseConfig(strings.NewReader(huge)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("huge config: err = %v, want a size error", err)
	}
}

func TestParseConfigRejects(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"argv":["true"],"uid":0}`, `unknown field "uid"`},
		{`{"argv":[]}`, "argv is empty"},
		{`{}`, "argv is empty"},
		{`null`, "argv is empty"},
		{`{"argv":[""]}`, "argv[0] is empty"},
		{`{"argv":["true","a\u0000b"]}`, "argv[1] contains a NUL byte"},
		{`{"argv":["true"],"env":["NOEQUALS"]}`, `env[0] "NOEQUALS" is not KEY=VALUE`},
		{`{"argv":["true"],"env":["=x"]}`, `is not KEY=VALUE`},
		{`{"argv":["true"],"workdir":"srv"}`, "not an absolute path"},
		{`{"argv":["true"],"hostname":"` + strings.Repeat("h", 65) + `"}`, "hostname is longer than 64"},
		{`{"argv":["true"]} {"argv":["false"]}`, "trailing data"},
		{`{"argv":["true"]} x`, "trailing data"},
		{`{"argv":"true"}`, "cannot unmarshal"},
		{`{"argv":["true"]`, "unexpected EOF"},
		{``, "EOF"},
	}
	for _, tt := range tests {
		_, err := ParseConfig(strings.NewReader(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseConfig(%.40q) error = %v, want it to mention %q", tt.in, err, tt.want)
		}
	}
}

func TestReadConfig(t *testing.T) {
	dir := t.TempDir()
	_, err := ReadConfig(filepath.Join(dir, "missing.json"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v, want ErrNotExist", err)
	}
	p := filepath.Join(dir, "bad.json")
	os.WriteFile(p, []byte(`{"argv":["x"],"bogus":1}`), 0o644)
	if _, err := ReadConfig(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("invalid file: err = %v, want it to name %s", err, p)
	}
}
