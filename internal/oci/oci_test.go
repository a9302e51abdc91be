package oci

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/smolvm/smolvm/internal/oci/ocitest"
)

// testImage has two layers, the second whiting out a file of the first.
func testImage(t *testing.T, arch string) v1.Image {
	t.Helper()
	base := ocitest.Layer(t,
		ocitest.File{Name: "etc/"},
		ocitest.File{Name: "etc/passwd", Data: []byte("root:x:0:0:root:/root:/bin/sh\n")},
		ocitest.File{Name: "etc/secret", Data: []byte("gone")},
		ocitest.File{Name: "bin/", Mode: 0o755},
		ocitest.File{Name: "bin/app", Data: []byte("#!/bin/sh\n"), Mode: 0o755},
		ocitest.File{Name: "bin/sh", Type: tar.TypeSymlink, Linkname: "app"},
	)
	top := ocitest.Layer(t,
		ocitest.File{Name: "etc/.wh.secret"},
		ocitest.File{Name: "srv/", Uid: 65534, Gid: 65534},
	)
	return ocitest.PlatformImage(t, v1.Config{
		Entrypoint: []string{"/bin/app"}, Cmd: []string{"serve"},
		Env: []string{"PATH=/bin", "MODE=test"}, WorkingDir: "/srv", User: "nobody",
	}, arch, base, top)
}

func flatTar(t *testing.T, img v1.Image) []byte {
	t.Helper()
	tree, err := Flatten(img, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tree.Close()
	var buf bytes.Buffer
	if err := tree.WriteTar(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func names(t *testing.T, b []byte) []string {
	var out []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err != nil {
			return out
		}
		out = append(out, h.Name)
	}
}

// TestSourcesAgree opens the same image from a registry, a `docker save`
// tarball and OCI layouts (single image, and multi-platform index) and
// checks that every source gives the same tree and configuration.
func TestSourcesAgree(t *testing.T) {
	ctx := context.Background()
	img := testImage(t, "amd64")
	arm := testImage(t, "arm64")
	dir := t.TempDir()

	host := ocitest.Registry(t)
	ocitest.Push(t, host+"/app:1", img)
	ocitest.Push(t, host+"/multi:1", ocitest.Index(t, arm, img))
	saved := filepath.Join(dir, "app.tar")
	ocitest.Save(t, saved, "app:1", img)
	single := filepath.Join(dir, "layout")
	ocitest.Layout(t, single, ocitest.Index(t, img))
	multi := filepath.Join(dir, "multi")
	ocitest.Layout(t, multi, ocitest.Index(t, arm, img))

	want := flatTar(t, img)
	if got := names(t, want); !reflect.DeepEqual(got, []string{"bin/", "bin/app", "bin/sh", "etc/", "etc/passwd", "srv/"}) {
		t.Fatalf("flattened image holds %q", got)
	}
	wantCfg, _ := RunConfig(img)
	for _, ref := range []string{host + "/app:1", host + "/multi:1", saved, single, multi} {
		t.Run(filepath.Base(ref), func(t *testing.T) {
			got, err := Open(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(flatTar(t, got), want) {
				t.Error("flattened tree differs from the original image's")
			}
			cfg, err := RunConfig(got)
			if err != nil || !reflect.DeepEqual(cfg, wantCfg) {
				t.Errorf("config = %+v, %v; want %+v", cfg, err, wantCfg)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	host := ocitest.Registry(t)
	arm := testImage(t, "arm64")
	ocitest.Push(t, host+"/arm:1", arm)
	ocitest.Push(t, host+"/armidx:1", ocitest.Index(t, arm))
	armLayout := filepath.Join(dir, "arm")
	ocitest.Layout(t, armLayout, ocitest.Index(t, arm))
	notTar := filepath.Join(dir, "notes.txt")
	os.WriteFile(notTar, []byte("hello"), 0o644)
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)

	for _, tc := range []struct{ ref, want string }{
		{host + "/arm:1", "built for linux/arm64"},
		{host + "/armidx:1", "linux/amd64"},
		{armLayout, "no linux/amd64 image in the index (it has linux/arm64)"},
		{notTar, "docker save"},
		{empty, "without index.json"},
		{"./missing.tar", "no such file"},
		{host + "/nothere:1", "pull"},
		{"UPPER/case", "valid registry reference"},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			_, err := Open(ctx, tc.ref)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.ref) {
				t.Fatalf("err = %v; want one naming %s and containing %q", err, tc.ref, tc.want)
			}
		})
	}
	// A single-platform image of the wrong architecture, from a tarball.
	saved := filepath.Join(dir, "arm.tar")
	ocitest.Save(t, saved, "arm:1", arm)
	if _, err := Open(ctx, saved); err == nil || !strings.Contains(err.Error(), "built for linux/arm64") {
		t.Errorf("arm64 tarball: err = %v", err)
	}
}
