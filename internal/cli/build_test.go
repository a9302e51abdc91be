package cli

import (
	"reflect"
	"testing"
)

func TestSplitCommand(t *testing.T) {
	tests := []struct {
		entrypoint  string
		args        []string
		entry, defs []string
		wantErr     bool
	}{
		{"", []string{"busybox", "echo", "hello"}, []string{"busybox"}, []string{"echo", "hello"}, false},
		{"", []string{"prog"}, []string{"prog"}, []string{}, false},
		{"busybox echo", []string{"hello"}, []string{"busybox", "echo"}, []string{"hello"}, false},
		{`["/bin/my app", "--x"]`, nil, []string{"/bin/my app", "--x"}, nil, false},
		{`["unterminated"`, nil, nil, nil, true},
		{"", nil, nil, nil, true},
	}
	for _, tt := range tests {
		entry, defs, err := splitCommand(tt.entrypoint, tt.args)
		if (err != nil) != tt.wantErr {
			t.Errorf("splitCommand(%q, %q) err = %v, wantErr %v", tt.entrypoint, tt.args, err, tt.wantErr)
			continue
		}
		if err == nil && (!reflect.DeepEqual(entry, tt.entry) || !reflect.DeepEqual(defs, tt.defs)) {
			t.Errorf("splitCommand(%q, %q) = %q %q, want %q %q", tt.entrypoint, tt.args, entry, defs, tt.entry, tt.defs)
		}
	}
}

func TestParseMemory(t *testing.T) {
	for in, want := range map[string]int{"128": 128, "128M": 128, "128MiB": 128, "1G": 1024, "2GiB": 2048, " 64m ": 64} {
		if got, err := parseMemory(in); err != nil || got != want {
			t.Errorf("parseMemory(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "abc", "-5M", "0", "1T", "1.5G"} {
		if _, err := parseMemory(bad); err == nil {
			t.Errorf("parseMemory(%q) accepted", bad)
		}
	}
}
