// Package ocitest makes real OCI images in tests — layers from file lists
// written in code, a linux/amd64 config — and puts them where smolvm
// reads images from: a `docker save` tarball, an OCI layout directory and
// a registry served in-process on loopback.
package ocitest

import (
	"archive/tar"
	"bytes"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// File is one layer entry. Type defaults to a regular file (a directory
// when Name ends in "/"); Mode defaults to 0644 (0755 for directories).
type File struct {
	Name     string
	Data     []byte
	Type     byte   // tar.Type*
	Linkname string // symlink or hard link target
	Mode     int64
	Uid, Gid int
}

// Layer makes a gzip-compressed layer holding files in the given order.
func Layer(t testing.TB, files ...File) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.Name, Typeflag: f.Type, Linkname: f.Linkname, Mode: f.Mode, Uid: f.Uid, Gid: f.Gid}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
			if strings.HasSuffix(f.Name, "/") {
				h.Typeflag = tar.TypeDir
			}
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(f.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("layer entry %s: %v", f.Name, err)
		}
		tw.Write(f.Data)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Image makes a linux/amd64 image from layers (lowest first) with cfg.
func Image(t testing.TB, cfg v1.Config, layers ...v1.Layer) v1.Image {
	t.Helper()
	return PlatformImage(t, cfg, "amd64", layers...)
}

// PlatformImage is Image for another linux architecture.
func PlatformImage(t testing.TB, cfg v1.Config, arch string, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Config = "linux", arch, cfg
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

// Registry serves an empty registry on loopback until the test ends and
// returns its host:port.
func Registry(t testing.TB) string {
	t.Helper()
	s := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// Push pushes img (an image or an index) to ref.
func Push(t testing.TB, ref string, img any) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	switch x := img.(type) {
	case v1.Image:
		err = remote.Write(r, x)
	case v1.ImageIndex:
		err = remote.WriteIndex(r, x)
	}
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

// Save writes img as `docker save` would, tagged tag.
func Save(t testing.TB, path, tag string, img v1.Image) {
	t.Helper()
	r, err := name.NewTag(tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.WriteToFile(path, r, img); err != nil {
		t.Fatal(err)
	}
}

// Layout writes an OCI layout directory whose index.json lists idx's
// manifests (pass an image wrapped with Index, or a multi-platform index).
func Layout(t testing.TB, dir string, idx v1.ImageIndex) {
	t.Helper()
	if _, err := layout.Write(dir, idx); err != nil {
		t.Fatal(err)
	}
}

// Index makes an index of images, each entry carrying its image's
// platform.
func Index(t testing.TB, imgs ...v1.Image) v1.ImageIndex {
	t.Helper()
	var adds []mutate.IndexAddendum
	for _, img := range imgs {
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: cf.OS, Architecture: cf.Architecture},
		}})
	}
	return mutate.AppendManifests(empty.Index, adds...)
}
