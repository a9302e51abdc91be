package initproc

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// pathFixture makes:
//
//	bin/tool       executable
//	bin/shadowed   executable
//	noexec/tool2   mode 0644
//	noexec/shadowed mode 0644 (earlier in PATH than bin/shadowed)
//	dirs/tool3/    a directory
//	dirs/tool/     a directory (earlier in PATH than bin/tool)
func pathFixture(t *testing.T) (root, pathList string) {
	t.Helper()
	root = t.TempDir()
	for _, d := range []string{"bin", "noexec", "dirs/tool3", "dirs/tool"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(root, name), []byte("#!/bin/sh\nexit 0\n"), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Join(root, name), mode) // umask-proof
	}
	write("bin/tool", 0o755)
	write("bin/shadowed", 0o755)
	write("noexec/tool2", 0o644)
	write("noexec/shadowed", 0o644)
	pathList = filepath.Join(root, "dirs") + ":" + filepath.Join(root, "noexec") + ":" + filepath.Join(root, "missing") + ":" + filepath.Join(root, "bin")
	return root, pathList
}

func TestLookPath(t *testing.T) {
	root, pathList := pathFixture(t)
	tests := []struct {
		name, file, dir string
		path            string // PATH, default pathList
		want            string // resolved path, or "" for an error
		status          int
		errIs           error
		msg             string
	}{
		{name: "found in PATH", file: "tool", want: filepath.Join(root, "bin/tool")},
		{name: "directory in PATH is skipped", file: "tool3", status: 127, errIs: ErrNotFound, msg: "tool3: not found"},
		{name: "non-executable then executable", file: "shadowed", want: filepath.Join(root, "bin/shadowed")},
		{name: "only non-executable", file: "tool2", status: 126, errIs: syscall.EACCES, msg: "tool2: permission denied"},
		{name: "missing", file: "busybox", status: 127, errIs: ErrNotFound, msg: "busybox: not found"},
		{name: "empty PATH element is the workdir", file: "tool", dir: filepath.Join(root, "bin"), path: "/nonexistent::/also-not",
			want: filepath.Join(root, "bin/tool")},
		{name: "relative PATH element is relative to the workdir", file: "tool", dir: root, path: "bin",
			want: filepath.Join(root, "bin/tool")},
		{name: "slash: absolute", file: filepath.Join(root, "bin/tool"), path: "/nonexistent", want: filepath.Join(root, "bin/tool")},
		{name: "slash: relative to workdir", file: "./bin/tool", dir: root, path: "/nonexistent", want: filepath.Join(root, "bin/tool")},
		{name: "slash: PATH not searched", file: "./tool", dir: root, status: 127, errIs: syscall.ENOENT, msg: "./tool: no such file or directory"},
		{name: "slash: missing", file: "/no/such/prog", status: 127, errIs: syscall.ENOENT, msg: "/no/such/prog: no such file or directory"},
		{name: "slash: through a file", file: filepath.Join(root, "bin/tool/x"), status: 126, errIs: syscall.ENOTDIR},
		{name: "slash: directory", file: filepath.Join(root, "bin"), status: 126, errIs: syscall.EISDIR, msg: filepath.Join(root, "bin") + ": is a directory"},
		{name: "slash: non-executable", file: filepath.Join(root, "noexec/tool2"), status: 126, errIs: syscall.EACCES},
		{name: "slash: device", file: "/dev/null", status: 126, errIs: syscall.EACCES},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.path
			if p == "" {
				p = pathList
			}
			got, err := LookPath(tt.file, p, tt.dir)
			if tt.want != "" {
				if err != nil || got != tt.want {
					t.Fatalf("LookPath = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			var se *StartError
			if !errors.As(err, &se) {
				t.Fatalf("LookPath = %q, %v; want a *StartError", got, err)
			}
			if se.Status != tt.status || !errors.Is(err, tt.errIs) {
				t.Errorf("LookPath error = %v (status %d), want status %d and %v", err, se.Status, tt.status, tt.errIs)
			}
			if tt.msg != "" && err.Error() != tt.msg {
				t.Errorf("message = %q, want %q", err.Error(), tt.msg)
			}
		})
	}
}
