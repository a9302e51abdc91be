package smolfile

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "app.tar"), []byte("x"), 0o644)
	p := filepath.Join(dir, "Smolfile")
	os.WriteFile(p, []byte(`# the app
image      = "app.tar"
binary     = ["bin/jq", "/usr/bin/sqlite3"]
entrypoint = ["/bin/sh", "-c"]
cmd        = ["id -un; pwd"]
env        = ["MODE=prod"]
workdir    = "/srv"
user       = "nobody"
memory     = "256M"
cpus       = 2
cmdline    = "quiet"

[[add]]
src = "certs"
dst = "/etc/ssl/certs"
`), 0o644)
	f, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	want := &File{
		Image:      filepath.Join(dir, "app.tar"),
		Binary:     []string{filepath.Join(dir, "bin/jq"), "/usr/bin/sqlite3"},
		Entrypoint: []string{"/bin/sh", "-c"}, Cmd: []string{"id -un; pwd"},
		Env: []string{"MODE=prod"}, Workdir: "/srv", User: "nobody", Memory: "256M", CPUs: 2, Cmdline: "quiet",
		Add: []Add{{Src: filepath.Join(dir, "certs"), Dst: "/etc/ssl/certs"}},
	}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("got  %+v\nwant %+v", f, want)
	}
}

func TestRegistryReferenceStays(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "Smolfile")
	os.WriteFile(p, []byte(`image = "docker.io/library/alpine:3.20"`), 0o644)
	f, err := Load(p)
	if err != nil || f.Image != "docker.io/library/alpine:3.20" {
		t.Errorf("image = %q, %v", f.Image, err)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"misspelt key", "image = \"a\"\n\nentrypont = [\"x\"]\n", `:3: unknown key "entrypont"`},
		{"misspelt nested key", "[[add]]\nsrc = \"a\"\ndest = \"/b\"\n", `:3: unknown key "add.dest"`},
		{"wrong type", "image = \"a\"\ncpus = \"two\"\n", ":2:"},
		{"bad syntax", "image = \n", ":1:"},
		{"add without dst", "[[add]]\nsrc = \"a\"\n", "add entry 1 needs both src and dst"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "Smolfile")
			os.WriteFile(p, []byte(tc.doc), 0o644)
			_, err := Load(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), p) {
				t.Fatalf("err = %v; want one starting with the path and containing %q", err, tc.want)
			}
		})
	}
}
