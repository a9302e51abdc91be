package rootfs

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/u-root/u-root/pkg/cpio"
)

// rootTar is a small root filesystem exercising every entry type.
func rootTar(t *testing.T, gz bool) string {
	t.Helper()
	var buf bytes.Buffer
	var w io.Writer = &buf
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = zw
	}
	tw := tar.NewWriter(w)
	for _, h := range []*tar.Header{
		{Typeflag: tar.TypeDir, Name: "./", Mode: 0o755},
		{Typeflag: tar.TypeDir, Name: "./srv/", Mode: 0o750, Uid: 1000, Gid: 1001},
		{Typeflag: tar.TypeReg, Name: "./srv/data", Mode: 0o640, Uid: 1000, Gid: 1001, Size: 5},
		{Typeflag: tar.TypeReg, Name: "./bin/su", Mode: 0o4755, Size: 2},
		{Typeflag: tar.TypeLink, Name: "./bin/su2", Linkname: "./bin/su"},
		{Typeflag: tar.TypeSymlink, Name: "./bin/sh", Linkname: "su"},
		{Typeflag: tar.TypeChar, Name: "./dev/null", Mode: 0o666, Devmajor: 1, Devminor: 3},
		{Typeflag: tar.TypeFifo, Name: "./run/fifo", Mode: 0o600},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte("hello")[:h.Size])
	}
	tw.Close()
	if zw != nil {
		zw.Close()
	}
	p := filepath.Join(t.TempDir(), "root.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// want is rootTar as "type name mode uid:gid extra" lines, sorted.
var wantRootTar = []string{
	"c dev/null 666 0:0 1,3",
	"d bin 755 0:0",
	"d dev 755 0:0",
	"d run 755 0:0",
	"d srv 750 1000:1001",
	"f bin/su 4755 0:0 he",
	"f bin/su2 4755 0:0 he",
	"f srv/data 640 1000:1001 hello",
	"l bin/sh 777 0:0 su",
	"p run/fifo 600 0:0",
}

func TestTarIntoInitramfs(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(fmt.Sprint("gzip=", gz), func(t *testing.T) {
			b, err := Build(Spec{Tar: rootTar(t, gz), Init: []byte("init")})
			if err != nil {
				t.Fatal(err)
			}
			recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(b)))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range recs {
				if strings.HasPrefix(r.Name, ".smolvm") {
					continue
				}
				data, _ := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
				typ := map[uint64]string{cpio.S_IFREG: "f", cpio.S_IFDIR: "d", cpio.S_IFLNK: "l", cpio.S_IFCHR: "c", cpio.S_IFIFO: "p"}[r.Mode&cpio.S_IFMT]
				s := fmt.Sprintf("%s %s %o %d:%d", typ, r.Name, r.Mode&0o7777, r.UID, r.GID)
				switch typ {
				case "f", "l":
					s += " " + string(data)
				case "c":
					s += fmt.Sprintf(" %d,%d", r.Rmajor, r.Rminor)
				}
				got = append(got, s)
			}
			sort.Strings(got)
			if g, want := strings.Join(got, "\n"), strings.Join(wantRootTar, "\n"); g != want {
				t.Errorf("initramfs holds\n%s\nwant\n%s", g, want)
			}
		})
	}
}

func TestTarIntoEROFS(t *testing.T) {
	if _, err := exec.LookPath("mkfs.erofs"); err != nil {
		t.Skip("mkfs.erofs not installed (erofs-utils)")
	}
	if os.Geteuid() != 0 {
		t.Skip("extracting ownership and device nodes needs root")
	}
	tarPath := rootTar(t, false)
	r, err := BuildLayout(Spec{Tar: tarPath, Init: []byte("init")}, LayoutBlock)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := BuildLayout(Spec{Tar: tarPath, Init: []byte("init")}, LayoutBlock)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.EROFS, r2.EROFS) {
		t.Error("the same tar gave different EROFS images")
	}
	img := filepath.Join(t.TempDir(), "root.erofs")
	os.WriteFile(img, r.EROFS, 0o644)
	// Mounted, not extracted with fsck.erofs: its extraction drops the
	// set-uid bit that the image holds.
	out := filepath.Join(t.TempDir(), "mnt")
	os.Mkdir(out, 0o755)
	if msg, err := exec.Command("mount", "-t", "erofs", "-o", "loop,ro", img, out).CombinedOutput(); err != nil {
		t.Skipf("cannot loop-mount the EROFS image here: %v: %s", err, msg)
	}
	defer exec.Command("umount", out).Run()
	var got []string
	filepath.Walk(out, func(p string, fi os.FileInfo, err error) error {
		rel, _ := filepath.Rel(out, p)
		if rel == "." {
			return nil
		}
		st := fi.Sys().(*syscall.Stat_t)
		typ := map[uint32]string{syscall.S_IFREG: "f", syscall.S_IFDIR: "d", syscall.S_IFLNK: "l", syscall.S_IFCHR: "c", syscall.S_IFIFO: "p"}[st.Mode&syscall.S_IFMT]
		s := fmt.Sprintf("%s %s %o %d:%d", typ, rel, st.Mode&0o7777, st.Uid, st.Gid)
		switch typ {
		case "f":
			b, _ := os.ReadFile(p)
			s += " " + string(b)
		case "l":
			l, _ := os.Readlink(p)
			s += " " + l
		case "c":
			s += fmt.Sprintf(" %d,%d", st.Rdev>>8, st.Rdev&0xff)
		}
		got = append(got, s)
		return nil
	})
	sort.Strings(got)
	// The tree plus what the kernel needs to boot from it: smol-init
	// and the directories it mounts on (those the tar lacks).
	want := append([]string{
		"d .smolvm 755 0:0", "d .smolvm/root 755 0:0", "d .smolvm/rw 755 0:0",
		"d proc 555 0:0", "d sys 555 0:0", "d tmp 1777 0:0", "f .smolvm/init 755 0:0 init",
	}, wantRootTar...)
	sort.Strings(want)
	if g, w := strings.Join(got, "\n"), strings.Join(want, "\n"); g != w {
		t.Errorf("EROFS holds\n%s\nwant\n%s", g, w)
	}
}

func TestTarErrors(t *testing.T) {
	dir := t.TempDir()
	notTar := filepath.Join(dir, "notes.txt")
	os.WriteFile(notTar, bytes.Repeat([]byte("not a tar "), 100), 0o644)
	_, err := Build(Spec{Tar: notTar, Init: []byte("init")})
	if err == nil || !strings.Contains(err.Error(), "--tar takes a root filesystem as a tar archive") {
		t.Errorf("not a tar: err = %v", err)
	}
	_, err = Build(Spec{Tar: filepath.Join(dir, "missing.tar"), Init: []byte("init")})
	if err == nil || !strings.Contains(err.Error(), "missing.tar") {
		t.Errorf("missing tar: err = %v", err)
	}
}
