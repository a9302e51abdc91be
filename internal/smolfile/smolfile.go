// Package smolfile reads a Smolfile: the TOML file that declares how to
// build a .vm image, so a build is one reviewable file instead of a long
// command line. Command-line flags override it (package cli merges).
//
//	image      = "docker.io/library/alpine:3.20"  # or binary = [...], rootfs = "dir", tar = "root.tar"
//	entrypoint = ["/bin/sh", "-c"]
//	cmd        = ["echo hello"]
//	env        = ["MODE=prod"]
//	workdir    = "/srv"
//	user       = "nobody"
//	memory     = "256M"
//	cpus       = 2
//	cmdline    = "quiet"
//	[[add]]
//	src = "certs"
//	dst = "/etc/ssl/certs"
//
// Unknown keys are errors naming the key and its line: a misspelt key
// would otherwise be a setting silently ignored. Relative paths are
// relative to the Smolfile's directory, so a build does not depend on
// where it is started from.
package smolfile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// File is a Smolfile. Empty fields are unset.
type File struct {
	Image      string   `toml:"image"`
	Binary     []string `toml:"binary"`
	Rootfs     string   `toml:"rootfs"`
	Tar        string   `toml:"tar"`
	Entrypoint []string `toml:"entrypoint"`
	Cmd        []string `toml:"cmd"`
	Env        []string `toml:"env"`
	Workdir    string   `toml:"workdir"`
	User       string   `toml:"user"`
	Memory     string   `toml:"memory"`
	CPUs       int      `toml:"cpus"`
	Hostname   string   `toml:"hostname"`
	Cmdline    string   `toml:"cmdline"`
	Root       string   `toml:"root"`
	Add        []Add    `toml:"add"`
}

// Add is one file or directory to add (like --add SRC:DST).
type Add struct {
	Src string `toml:"src"`
	Dst string `toml:"dst"`
}

// Load reads and checks the Smolfile at p, resolving its relative paths
// against its directory.
func Load(p string) (*File, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	f, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s%w", p, err)
	}
	f.resolve(filepath.Dir(p))
	return f, nil
}

// Parse decodes a Smolfile. Errors start with ":LINE: " where the line
// is known, to follow the file name.
func Parse(data []byte) (*File, error) {
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		var strict *toml.StrictMissingError
		if errors.As(err, &strict) && len(strict.Errors) > 0 {
			var msgs []string
			for _, e := range strict.Errors {
				row, _ := e.Position()
				msgs = append(msgs, fmt.Sprintf(":%d: unknown key %q", row, strings.Join(e.Key(), ".")))
			}
			return nil, fmt.Errorf("%s (known keys: %s)", strings.Join(msgs, "; "), knownKeys)
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, _ := de.Position()
			return nil, fmt.Errorf(":%d: %s", row, strings.TrimPrefix(de.Error(), "toml: "))
		}
		return nil, fmt.Errorf(": %w", err)
	}
	for i, a := range f.Add {
		if a.Src == "" || a.Dst == "" {
			return nil, fmt.Errorf(": add entry %d needs both src and dst", i+1)
		}
	}
	return &f, nil
}

const knownKeys = "image, binary, rootfs, tar, entrypoint, cmd, env, workdir, user, memory, cpus, hostname, cmdline, root, add.src, add.dst"

// resolve makes relative host paths relative to dir. An image reference
// is a path only when it names something that exists there (or starts
// with ./ or ../); otherwise it is a registry reference and stays.
func (f *File) resolve(dir string) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	if f.Image != "" && !filepath.IsAbs(f.Image) {
		if _, err := os.Stat(filepath.Join(dir, f.Image)); err == nil || strings.HasPrefix(f.Image, "./") || strings.HasPrefix(f.Image, "../") {
			f.Image = filepath.Join(dir, f.Image)
		}
	}
	for i := range f.Binary {
		f.Binary[i] = abs(f.Binary[i])
	}
	f.Rootfs, f.Tar = abs(f.Rootfs), abs(f.Tar)
	for i := range f.Add {
		f.Add[i].Src = abs(f.Add[i].Src)
	}
}
