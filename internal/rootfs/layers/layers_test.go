package layers

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

// ent is a fixture entry: a compact way to write tar headers.
//
//	"d path"            directory 0755
//	"f path content"    regular file 0644
//	"x path content"    regular file 0755 owned by 1000:1000
//	"2 path target"     symlink
//	"h path target"     hard link
//	"c path"            character device 1:3 (like /dev/null)
//	"p path"            fifo
type ent string

func layer(t *testing.T, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		f := strings.SplitN(string(e), " ", 3)
		h := &tar.Header{Name: f[1], Mode: 0o644}
		switch f[0] {
		case "d":
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		case "f", "x":
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f[2]))
			if f[0] == "x" {
				h.Mode, h.Uid, h.Gid = 0o755, 1000, 1000
			}
		case "l":
			h.Typeflag, h.Linkname = tar.TypeSymlink, f[2]
		case "h":
			h.Typeflag, h.Linkname = tar.TypeLink, f[2]
		case "c":
			h.Typeflag, h.Devmajor, h.Devminor, h.Mode = tar.TypeChar, 1, 3, 0o666
		case "p":
			h.Typeflag = tar.TypeFifo
		default:
			t.Fatalf("bad fixture %q", e)
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(f[2]))
		}
	}
	tw.Close()
	return buf.Bytes()
}

// describe lists a tar stream as one line per entry, in stream order.
func describe(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		if !h.ModTime.Equal(epoch) {
			t.Errorf("%s: mtime %v, want the epoch", h.Name, h.ModTime)
		}
		s := fmt.Sprintf("%c %s %o %d:%d", h.Typeflag, h.Name, h.Mode, h.Uid, h.Gid)
		switch h.Typeflag {
		case tar.TypeReg:
			s += " " + string(data)
		case tar.TypeSymlink, tar.TypeLink:
			s += " -> " + h.Linkname
		case tar.TypeChar:
			s += fmt.Sprintf(" %d,%d", h.Devmajor, h.Devminor)
		}
		out = append(out, s)
	}
}

func TestFlatten(t *testing.T) {
	for _, tc := range []struct {
		name   string
		layers [][]ent
		want   []string
	}{{
		name:   "single layer keeps types, modes and owners; implicit parents added",
		layers: [][]ent{{"x usr/bin/app #!", "l bin ../usr/bin", "c dev/null", "p run/fifo", "d srv"}},
		want: []string{
			"2 bin 644 0:0 -> ../usr/bin",
			"5 dev/ 755 0:0", "3 dev/null 666 0:0 1,3",
			"5 run/ 755 0:0", "6 run/fifo 644 0:0",
			"5 srv/ 755 0:0",
			"5 usr/ 755 0:0", "5 usr/bin/ 755 0:0", "0 usr/bin/app 755 1000:1000 #!",
		},
	}, {
		name:   "upper file replaces lower file",
		layers: [][]ent{{"f etc/motd old"}, {"f etc/motd new"}},
		want:   []string{"5 etc/ 755 0:0", "0 etc/motd 644 0:0 new"},
	}, {
		name:   "whiteout removes a file",
		layers: [][]ent{{"d etc", "f etc/a a", "f etc/b b"}, {"f etc/.wh.a "}},
		want:   []string{"5 etc/ 755 0:0", "0 etc/b 644 0:0 b"},
	}, {
		name:   "whiteout removes a directory and its subtree",
		layers: [][]ent{{"d opt", "d opt/x", "f opt/x/1 1", "f opt/y y"}, {"f opt/.wh.x "}},
		want:   []string{"5 opt/ 755 0:0", "0 opt/y 644 0:0 y"},
	}, {
		name:   "whiteout of an implicit directory removes its contents",
		layers: [][]ent{{"f a/b/c c"}, {"f a/.wh.b "}},
		want:   []string{"5 a/ 755 0:0"},
	}, {
		name:   "whiteout does not touch what its own layer adds",
		layers: [][]ent{{"f x old"}, {"f x new", "f .wh.x "}},
		want:   []string{"0 x 644 0:0 new"},
	}, {
		name:   "whiteout of something absent is harmless",
		layers: [][]ent{{"f a a"}, {"f .wh.nothere "}},
		want:   []string{"0 a 644 0:0 a"},
	}, {
		name: "opaque directory hides lower contents, keeps its own layer's (marker last)",
		layers: [][]ent{
			{"d var", "f var/old1 1", "d var/sub", "f var/sub/old2 2", "f keep k"},
			{"d var", "f var/new n", "f var/.wh..wh..opq "},
		},
		want: []string{"0 keep 644 0:0 k", "5 var/ 755 0:0", "0 var/new 644 0:0 n"},
	}, {
		name: "opaque directory, marker first",
		layers: [][]ent{
			{"d var", "f var/old 1"},
			{"f var/.wh..wh..opq ", "f var/new n"},
		},
		want: []string{"5 var/ 755 0:0", "0 var/new 644 0:0 n"},
	}, {
		name:   "a file over a directory removes the directory's subtree",
		layers: [][]ent{{"d lib", "f lib/libc.so c"}, {"l lib usr/lib"}},
		want:   []string{"2 lib 644 0:0 -> usr/lib"},
	}, {
		name:   "a directory over a directory merges",
		layers: [][]ent{{"d etc", "f etc/a a"}, {"d etc", "f etc/b b"}},
		want:   []string{"5 etc/ 755 0:0", "0 etc/a 644 0:0 a", "0 etc/b 644 0:0 b"},
	}, {
		name:   "hard link: first name in order carries the data",
		layers: [][]ent{{"x z/busybox bb", "h a/sh z/busybox"}},
		want: []string{
			"5 a/ 755 0:0", "0 a/sh 755 1000:1000 bb",
			"5 z/ 755 0:0", "1 z/busybox 755 1000:1000 -> a/sh",
		},
	}, {
		name:   "hard link keeps its data when the target is whited out",
		layers: [][]ent{{"f t data", "h u t"}, {"f .wh.t "}},
		want:   []string{"0 u 644 0:0 data"},
	}, {
		name:   "names are cleaned: ./ and leading slashes",
		layers: [][]ent{{"d ./", "f ./etc/hostname h", "f /etc//hosts x"}},
		want:   []string{"5 etc/ 755 0:0", "0 etc/hostname 644 0:0 h", "0 etc/hosts 644 0:0 x"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var rs []io.Reader
			for _, l := range tc.layers {
				rs = append(rs, bytes.NewReader(layer(t, l...)))
			}
			tree, err := Flatten(t.TempDir(), rs...)
			if err != nil {
				t.Fatal(err)
			}
			defer tree.Close()
			var out bytes.Buffer
			if err := tree.WriteTar(&out); err != nil {
				t.Fatal(err)
			}
			if got := describe(t, out.Bytes()); !slices.Equal(got, tc.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

func TestFlattenErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		layer []ent
		want  string
	}{
		{"escape", []ent{"f ../etc/passwd x"}, "climbs out of the root"},
		{"dangling hard link", []ent{"h a nothere"}, "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Flatten(t.TempDir(), bytes.NewReader(layer(t, tc.layer...)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := Flatten(t.TempDir(), strings.NewReader("not a tar file at all, just some text that is long enough to be a header block......")); err == nil {
		t.Fatal("garbage layer accepted")
	}
}

func TestReadFileFollowsSymlinks(t *testing.T) {
	tree, err := Flatten(t.TempDir(),
		bytes.NewReader(layer(t, "f usr/etc/passwd root:x:0:0::/root:/bin/sh", "l etc usr/etc", "l usr/etc/pw passwd", "d srv")))
	if err != nil {
		t.Fatal(err)
	}
	defer tree.Close()
	for _, name := range []string{"/usr/etc/passwd", "/etc/passwd", "etc/pw"} {
		b, err := tree.ReadFile(name)
		if err != nil || string(b) != "root:x:0:0::/root:/bin/sh" {
			t.Errorf("ReadFile(%s) = %q, %v", name, b, err)
		}
	}
	if _, err := tree.ReadFile("/etc/group"); !errors.Is(err, ErrNotExist) {
		t.Errorf("missing file: err = %v, want ErrNotExist", err)
	}
	if _, err := tree.ReadFile("/srv"); err == nil {
		t.Error("ReadFile of a directory succeeded")
	}
}

func TestWriteTarReproducible(t *testing.T) {
	l1 := layer(t, "f b 2", "f a 1", "d c", "x c/d 3")
	var outs [2][]byte
	for i := range outs {
		tree, err := Flatten(t.TempDir(), bytes.NewReader(l1))
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := tree.WriteTar(&buf); err != nil {
			t.Fatal(err)
		}
		tree.Close()
		outs[i] = buf.Bytes()
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Fatal("same layers gave different tars")
	}
}
