// Package oci opens container images wherever they are — a `docker save`
// tarball, an OCI image layout directory, or a registry — and turns one
// into what smolvm builds from: a flattened root filesystem tree and the
// image's run configuration.
//
// Only linux/amd64 images are accepted, because that is what the guest
// runs; from a multi-platform index that platform is chosen. Nothing
// here depends on where the image came from, so the same image gives the
// same tree and configuration from every source (the builder relies on
// this for byte-identical output).
package oci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/smolvm/smolvm/internal/progress"
	"github.com/smolvm/smolvm/internal/rootfs/layers"
)

// Platform is the only platform smolvm runs.
var Platform = v1.Platform{OS: "linux", Architecture: "amd64"}

// Open finds the image ref names: an existing file is a `docker save`
// tarball, an existing directory an OCI image layout, anything else a
// registry reference (pulled with the default keychain, so `docker login`
// credentials work; loopback and private-network registries are spoken
// to over plain HTTP).
func Open(ctx context.Context, ref string) (v1.Image, error) {
	img, err := open(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	if err := checkPlatform(img); err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	return img, nil
}

func open(ctx context.Context, ref string) (v1.Image, error) {
	st, err := os.Stat(ref)
	switch {
	case err == nil && st.IsDir():
		if _, err := os.Stat(filepath.Join(ref, "index.json")); err != nil {
			return nil, errors.New("a directory without index.json: --image takes an OCI image layout directory, a `docker save` tarball or a registry reference")
		}
		idx, err := layout.ImageIndexFromPath(ref)
		if err != nil {
			return nil, err
		}
		return fromIndex(idx)
	case err == nil:
		img, err := tarball.ImageFromPath(ref, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: --image takes a `docker save` tarball holding one image, an OCI layout directory or a registry reference", err)
		}
		return img, nil
	case looksLikePath(ref):
		return nil, fmt.Errorf("no such file or directory (and not a registry reference)")
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("not a file, a directory or a valid registry reference: %w", err)
	}
	img, err := remote.Image(r, remote.WithContext(ctx), remote.WithPlatform(Platform),
		remote.WithAuthFromKeychain(authn.DefaultKeychain))
	if err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	return img, nil
}

// looksLikePath tells a mistyped path from a registry reference, so the
// user hears "no such file" instead of a failed pull from Docker Hub.
func looksLikePath(ref string) bool {
	return strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, "./") || strings.HasPrefix(ref, "../") ||
		strings.HasSuffix(ref, ".tar") || strings.HasSuffix(ref, ".tar.gz")
}

// fromIndex picks the linux/amd64 image from an index, descending into
// nested indexes (a layout's index.json often points at the image's own
// multi-platform index). An index entry without a platform counts as a
// match when it is the only entry: `docker save` and single-image layouts
// write such entries.
func fromIndex(idx v1.ImageIndex) (v1.Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var match []v1.Descriptor
	var seen []string
	for _, d := range im.Manifests {
		switch {
		case d.Platform == nil && len(im.Manifests) == 1:
			match = append(match, d)
		case d.Platform != nil && d.Platform.OS == Platform.OS && d.Platform.Architecture == Platform.Architecture:
			match = append(match, d)
		case d.Platform != nil:
			seen = append(seen, d.Platform.OS+"/"+d.Platform.Architecture)
		default:
			seen = append(seen, "unknown")
		}
	}
	switch {
	case len(match) == 0 && len(im.Manifests) == 0:
		return nil, errors.New("the index lists no images")
	case len(match) == 0:
		return nil, fmt.Errorf("no linux/amd64 image in the index (it has %s)", strings.Join(seen, ", "))
	case len(match) > 1:
		return nil, fmt.Errorf("the index has %d linux/amd64 images; smolvm needs exactly one", len(match))
	}
	d := match[0]
	if d.MediaType.IsIndex() {
		child, err := idx.ImageIndex(d.Digest)
		if err != nil {
			return nil, err
		}
		return fromIndex(child)
	}
	return idx.Image(d.Digest)
}

// checkPlatform refuses images built for another platform (an image
// whose config names none is accepted).
func checkPlatform(img v1.Image) error {
	cf, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	if (cf.OS != "" && cf.OS != Platform.OS) || (cf.Architecture != "" && cf.Architecture != Platform.Architecture) {
		return fmt.Errorf("built for %s/%s; smolvm runs linux/amd64 images", cf.OS, cf.Architecture)
	}
	return nil
}

// Config is the part of an image's configuration that says how to run it.
type Config struct {
	Entrypoint []string
	Cmd        []string
	Env        []string
	WorkingDir string
	User       string
}

// RunConfig returns img's run configuration.
func RunConfig(img v1.Image) (*Config, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read image config: %w", err)
	}
	c := cf.Config
	return &Config{Entrypoint: c.Entrypoint, Cmd: c.Cmd, Env: c.Env, WorkingDir: c.WorkingDir, User: c.User}, nil
}

// Flatten applies img's layers, lowest first, to a new tree spooled in
// tmpdir. Layers are downloaded (from a registry) as they are read; p
// shows their progress.
func Flatten(img v1.Image, tmpdir string, p *progress.Reporter) (*layers.Tree, error) {
	ls, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("list layers: %w", err)
	}
	t, err := layers.New(tmpdir)
	if err != nil {
		return nil, err
	}
	for i, l := range ls {
		if err := apply(t, l, fmt.Sprintf("layer %d/%d", i+1, len(ls)), p); err != nil {
			t.Close()
			return nil, fmt.Errorf("layer %d of %d: %w", i+1, len(ls), err)
		}
	}
	p.Done("layers: %d applied", len(ls))
	return t, nil
}

func apply(t *layers.Tree, l v1.Layer, label string, p *progress.Reporter) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := t.Apply(p.Reader(label, -1, rc)); err != nil {
		return err
	}
	// Read to the end so that the layer's digest is verified: a
	// truncated or tampered blob fails here rather than passing unseen.
	_, err = io.Copy(io.Discard, rc)
	return err
}
