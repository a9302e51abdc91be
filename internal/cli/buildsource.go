package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/smolvm/smolvm/internal/guest/protocol"
	"github.com/smolvm/smolvm/internal/oci"
	"github.com/smolvm/smolvm/internal/progress"
	"github.com/smolvm/smolvm/internal/rootfs"
	"github.com/smolvm/smolvm/internal/smolfile"
	"github.com/smolvm/smolvm/internal/userdb"
)

// flattenImage opens the image ref, writes its flattened layers as one
// tar file in tmp and returns that file's path and the image's run
// configuration.
func flattenImage(ctx context.Context, ref, tmp string, prog *progress.Reporter) (string, *oci.Config, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	img, err := oci.Open(ctx, ref)
	if err != nil {
		return "", nil, err
	}
	cfg, err := oci.RunConfig(img)
	if err != nil {
		return "", nil, fmt.Errorf("image %s: %w", ref, err)
	}
	tree, err := oci.Flatten(img, tmp, prog)
	if err != nil {
		return "", nil, fmt.Errorf("image %s: %w", ref, err)
	}
	defer tree.Close()
	p := filepath.Join(tmp, "image-root.tar")
	f, err := os.Create(p)
	if err != nil {
		return "", nil, err
	}
	if err := tree.WriteTar(f); err != nil {
		f.Close()
		return "", nil, fmt.Errorf("image %s: %w", ref, err)
	}
	return p, cfg, f.Close()
}

// command returns the manifest's entrypoint and default arguments.
//
// Without an image: from --entrypoint (every positional word then a
// default argument), or else the first positional word (see
// splitCommand). With an image, as `docker run` does: the image's
// ENTRYPOINT and CMD, --entrypoint replacing ENTRYPOINT and dropping CMD,
// positional words replacing CMD.
func command(img *oci.Config, entrypoint string, args []string) (entry, defArgs []string, err error) {
	if img == nil {
		return splitCommand(entrypoint, args)
	}
	entry, defArgs = img.Entrypoint, img.Cmd
	if strings.TrimSpace(entrypoint) != "" {
		if entry, _, err = splitCommand(entrypoint, nil); err != nil {
			return nil, nil, err
		}
		defArgs = nil
	}
	if len(args) > 0 {
		defArgs = args
	}
	if len(entry) == 0 && len(defArgs) == 0 {
		return nil, nil, errors.New("build: the image has no ENTRYPOINT or CMD: put the program to run after --, or use --entrypoint")
	}
	return entry, defArgs, nil
}

// resolveUser resolves spec ("" means root) against the root's
// /etc/passwd and /etc/group and returns the identity for the manifest
// (nil for plain root) and the user's home directory.
func resolveUser(root rootfs.Spec, spec string) (*protocol.User, string, error) {
	read := func(name string) ([]byte, error) {
		b, err := root.ReadFile(name)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return b, err
	}
	passwd, err := read("/etc/passwd")
	if err != nil {
		return nil, "", fmt.Errorf("read the root's /etc/passwd: %w", err)
	}
	group, err := read("/etc/group")
	if err != nil {
		return nil, "", fmt.Errorf("read the root's /etc/group: %w", err)
	}
	if spec == "" {
		spec = "0"
	}
	u, err := userdb.Resolve(spec, passwd, group)
	if err != nil {
		return nil, "", fmt.Errorf("build: %w", err)
	}
	if u.UID == 0 && u.GID == 0 && len(u.Groups) == 0 {
		return nil, u.Home, nil
	}
	return &protocol.User{UID: u.UID, GID: u.GID, Groups: u.Groups}, u.Home, nil
}

// hasEnv reports whether env sets key.
func hasEnv(env []string, key string) bool {
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			return true
		}
	}
	return false
}

// parseAdds reads --add SRC:DST values. DST must be absolute; SRC must
// exist (checked here so the error names the flag).
func parseAdds(adds []string) ([]rootfs.File, error) {
	var files []rootfs.File
	for _, a := range adds {
		src, dst, ok := strings.Cut(a, ":")
		if !ok || src == "" || !path.IsAbs(dst) {
			return nil, fmt.Errorf("--add %q: want SRC:DST with DST an absolute path in the guest, e.g. ./certs:/etc/ssl/certs", a)
		}
		if _, err := os.Stat(src); err != nil {
			return nil, fmt.Errorf("--add %q: %w", a, err)
		}
		files = append(files, rootfs.File{Src: src, Dst: dst})
	}
	return files, nil
}

// stderrFile is the command's stderr when it is a file (a terminal, for
// progress), else nil.
func stderrFile(cmd *cobra.Command) *os.File {
	var w io.Writer = cmd.ErrOrStderr()
	f, _ := w.(*os.File)
	return f
}

// applySmolfile fills f from the Smolfile f.file for every flag the
// command line did not set (changed reports those), and returns the
// positional arguments: the command line's, else the Smolfile's cmd.
func applySmolfile(f *buildFlags, args []string, changed func(string) bool) ([]string, error) {
	sf, err := smolfile.Load(f.file)
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	str := func(flag string, dst *string, v string) {
		if !changed(flag) && v != "" {
			*dst = v
		}
	}
	list := func(flag string, dst *[]string, v []string) {
		if !changed(flag) && len(v) > 0 {
			*dst = v
		}
	}
	str("image", &f.image, sf.Image)
	str("rootfs", &f.rootfs, sf.Rootfs)
	str("tar", &f.tar, sf.Tar)
	str("workdir", &f.workdir, sf.Workdir)
	str("user", &f.user, sf.User)
	str("memory", &f.memory, sf.Memory)
	str("hostname", &f.hostname, sf.Hostname)
	str("cmdline", &f.cmdline, sf.Cmdline)
	str("root", &f.root, sf.Root)
	list("binary", &f.binaries, sf.Binary)
	list("env", &f.env, sf.Env)
	if !changed("cpus") && sf.CPUs != 0 {
		f.cpus = sf.CPUs
	}
	if !changed("entrypoint") && len(sf.Entrypoint) > 0 {
		b, _ := json.Marshal(sf.Entrypoint)
		f.entrypoint = string(b)
	}
	if !changed("add") {
		for _, a := range sf.Add {
			f.add = append(f.add, a.Src+":"+a.Dst)
		}
	}
	if len(args) == 0 {
		args = sf.Cmd
	}
	return args, nil
}
