package initproc

import (
	"slices"
	"testing"

	"github.com/smolvm/smolvm/internal/guest/protocol"
)

func TestBuildEnv(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"defaults", nil, []string{"PATH=" + protocol.DefaultPath, "HOME=/", "TERM=linux"}},
		{"given values win", []string{"HOME=/root", "PATH=/bin", "TERM=xterm", "A=1"},
			[]string{"HOME=/root", "PATH=/bin", "TERM=xterm", "A=1"}},
		{"empty value counts as set", []string{"PATH="}, []string{"PATH=", "HOME=/", "TERM=linux"}},
		{"duplicates: last value, first position", []string{"A=1", "B=2", "A=3"},
			[]string{"A=3", "B=2", "PATH=" + protocol.DefaultPath, "HOME=/", "TERM=linux"}},
		{"value with =", []string{"OPTS=a=b"}, []string{"OPTS=a=b", "PATH=" + protocol.DefaultPath, "HOME=/", "TERM=linux"}},
	}
	for _, tt := range tests {
		if got := BuildEnv(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("%s: BuildEnv(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestGetenv(t *testing.T) {
	env := []string{"A=1", "PATH=/x", "A=2", "EMPTY="}
	for _, tt := range []struct {
		key, val string
		ok       bool
	}{{"A", "2", true}, {"PATH", "/x", true}, {"EMPTY", "", true}, {"MISSING", "", false}, {"PAT", "", false}} {
		if v, ok := Getenv(env, tt.key); v != tt.val || ok != tt.ok {
			t.Errorf("Getenv(%q) = %q, %v; want %q, %v", tt.key, v, ok, tt.val, tt.ok)
		}
	}
}
