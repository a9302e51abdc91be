package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/smolvm/smolvm/internal/image"
	"github.com/smolvm/smolvm/internal/oci"
	"github.com/smolvm/smolvm/internal/progress"
	"github.com/smolvm/smolvm/internal/rootfs"
	"github.com/smolvm/smolvm/internal/vmlinux"
)

// Defaults for a new image.
const (
	defaultMemoryMiB = 128
	defaultVCPUs     = 1
)

type buildFlags struct {
	output, kernel, rootfs, tar, image, workdir, user, memory, hostname, cmdline, entrypoint, root, file string
	binaries, env, add                                                                                   []string
	cpus                                                                                                 int
}

func buildCmd() *cobra.Command {
	var f buildFlags
	c := &cobra.Command{
		Use:   "build -o FILE (--image REF | --binary FILE | --rootfs DIR | --tar FILE) [flags] [-- ENTRYPOINT [ARGS...]]",
		Short: "Pack a program, the guest kernel and smol-init into one executable file",
		Long: `Pack a program, the guest kernel and smol-init into one executable file.

ENTRYPOINT and ARGS are what runs in the VM. Arguments given to the image
when it runs replace ARGS (like arguments to 'docker run' replace CMD); the
ENTRYPOINT stays. A bare name is looked up in PATH (/bin, /usr/bin, ...);
--binary places each file in /bin under its own name, with the dynamic
loader and shared libraries it needs.

With --image (a 'docker save' tarball, an OCI layout directory or a
registry reference), the image's ENTRYPOINT, CMD, ENV, WORKDIR and USER
apply as with 'docker run': words after -- replace CMD, --entrypoint
replaces ENTRYPOINT (and drops CMD), --env adds to ENV.`,
		Example: `  smolvm build -o hello.vm --binary /bin/busybox -- busybox echo hello
  smolvm build -o app.vm --rootfs ./root --env MODE=prod --workdir /srv -- /srv/app
  smolvm build -o web.vm --image docker.io/library/nginx:1.27 --memory 256M
  smolvm build -o app.vm -f Smolfile --memory 512M`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBuild(cmd, f, args)
		},
	}
	fl := c.Flags()
	fl.StringVarP(&f.output, "output", "o", "", "image file to write (required)")
	fl.StringVarP(&f.file, "file", "f", "", "Smolfile (TOML) declaring the build; flags override it")
	fl.StringVar(&f.entrypoint, "entrypoint", "", `entrypoint words ("busybox echo" or ["busybox","echo"]); then every word after -- is a default argument`)
	fl.StringVar(&f.image, "image", "", "OCI image to use as the root filesystem and run configuration: a 'docker save' tarball, an OCI layout directory or a registry reference")
	fl.StringArrayVar(&f.binaries, "binary", nil, "x86-64 program to put in /bin, with its loader and shared libraries (repeatable)")
	fl.StringVar(&f.rootfs, "rootfs", "", "directory to use as the root filesystem")
	fl.StringVar(&f.tar, "tar", "", "tar file (plain or gzip) to use as the root filesystem; --rootfs and --binary go on top")
	fl.StringArrayVar(&f.add, "add", nil, "host file or directory to add, SRC:DST (repeatable)")
	fl.StringArrayVarP(&f.env, "env", "e", nil, "environment variable KEY=VALUE (repeatable)")
	fl.StringVarP(&f.workdir, "workdir", "w", "", "working directory of the program (absolute)")
	fl.StringVarP(&f.user, "user", "u", "", "user to run the program as: NAME, UID, NAME:GROUP or UID:GID (names from the root's /etc/passwd and /etc/group)")
	fl.StringVarP(&f.memory, "memory", "m", strconv.Itoa(defaultMemoryMiB)+"M", "guest memory, e.g. 128M or 1G")
	fl.IntVar(&f.cpus, "cpus", defaultVCPUs, "virtual CPUs")
	fl.StringVar(&f.hostname, "hostname", "", "guest hostname (default smolvm)")
	fl.StringVar(&f.cmdline, "cmdline", "", "extra kernel command line")
	fl.StringVar(&f.root, "root", "auto", "where the root filesystem goes: initramfs, erofs (a read-only block device with a tmpfs overlay), or auto (erofs)")
	fl.StringVar(&f.kernel, "kernel", "", "guest kernel, an uncompressed ELF vmlinux with PVH (default: vmlinux next to smolvm, or $SMOLVM_KERNEL)")
	return c
}

func runBuild(cmd *cobra.Command, f buildFlags, args []string) error {
	if f.output == "" {
		return errors.New("build: -o FILE is required")
	}
	if f.file != "" {
		var err error
		if args, err = applySmolfile(&f, args, cmd.Flags().Changed); err != nil {
			return err
		}
	}
	if len(f.binaries) == 0 && f.rootfs == "" && f.tar == "" && f.image == "" {
		return errors.New("build: give the program with --binary FILE, an image with --image REF, or a root filesystem with --rootfs DIR or --tar FILE")
	}
	if f.image != "" && f.tar != "" {
		return errors.New("build: --image and --tar both give the base root filesystem; use one of them")
	}
	mem, err := parseMemory(f.memory)
	if err != nil {
		return err
	}
	for _, e := range f.env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return fmt.Errorf("--env %q: want KEY=VALUE", e)
		}
	}
	files, err := parseAdds(f.add)
	if err != nil {
		return err
	}
	prog := progress.New(stderrFile(cmd))
	tmp, err := os.MkdirTemp("", "smolvm-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	spec := rootfs.Spec{Tar: f.tar, Dir: f.rootfs, Binaries: f.binaries, Files: files}
	var cfg *oci.Config
	if f.image != "" {
		if spec.Tar, cfg, err = flattenImage(cmd.Context(), f.image, tmp, prog); err != nil {
			return err
		}
	}
	entry, defArgs, err := command(cfg, f.entrypoint, args)
	if err != nil {
		return err
	}
	man := &image.Manifest{
		Entrypoint:    entry,
		Args:          defArgs,
		WorkDir:       f.workdir,
		MemoryMiB:     mem,
		VCPUs:         f.cpus,
		Cmdline:       f.cmdline,
		Hostname:      f.hostname,
		SmolvmVersion: Version,
	}
	userSpec := f.user
	if cfg != nil {
		man.Env = cfg.Env
		if man.WorkDir == "" {
			man.WorkDir = cfg.WorkingDir
		}
		if userSpec == "" {
			userSpec = cfg.User
		}
	}
	home := ""
	if userSpec != "" || cfg != nil {
		// Like docker, an image's program gets HOME from its user's
		// passwd entry (root's when there is no USER).
		if man.User, home, err = resolveUser(spec, userSpec); err != nil {
			return err
		}
	}
	if home != "" && !hasEnv(append(man.Env, f.env...), "HOME") {
		man.Env = append(man.Env, "HOME="+home)
	}
	// Later entries win (smol-init keeps the last value of a key).
	man.Env = append(man.Env, f.env...)
	if err := man.Validate(); err != nil {
		return err
	}

	kernelPath, err := assetPath(f.kernel, "SMOLVM_KERNEL", "vmlinux",
		"no guest kernel found: run 'make kernel' (builds it and puts it at bin/vmlinux) or pass --kernel PATH")
	if err != nil {
		return err
	}
	kernel, err := os.ReadFile(kernelPath)
	if err != nil {
		return err
	}
	// Images store the kernel flat (entry point and segments) so the
	// runtime can decode it straight into guest memory.
	if kernel, err = vmlinux.Flatten(kernel); err != nil {
		return fmt.Errorf("kernel %s: %w", kernelPath, err)
	}
	initPath, err := assetPath("", "SMOLVM_INIT", "smol-init",
		"smol-init not found next to smolvm: run 'make build' or set SMOLVM_INIT")
	if err != nil {
		return err
	}
	if spec.Init, err = os.ReadFile(initPath); err != nil {
		return err
	}
	layout, err := rootfs.ParseLayout(f.root)
	if err != nil {
		return err
	}
	root, err := rootfs.BuildLayout(spec, layout)
	if err != nil {
		return err
	}
	runtimePath, err := runtimePath()
	if err != nil {
		return err
	}
	if err := writeImage(f.output, runtimePath, kernel, root, man, prog); err != nil {
		return fmt.Errorf("write image %s: %w (nothing was written under that name)", f.output, err)
	}
	st, err := os.Stat(f.output)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "smolvm: wrote %s (%.1f MB)\n", f.output, float64(st.Size())/1e6)
	return nil
}

// runtimePath is the runtime copied to the front of the image: the slim
// smolvm-runtime next to smolvm, else smolvm itself (which also runs
// images it finds appended to itself).
func runtimePath() (string, error) {
	if p, err := assetPath("", "SMOLVM_RUNTIME", "smolvm-runtime", ""); err == nil {
		return p, nil
	}
	return os.Executable()
}

// writeImage writes the image to a temporary file beside out and renames
// it into place, so a failure (a full disk) never leaves a half-written
// image under the requested name.
func writeImage(out, runtimePath string, kernel []byte, root *rootfs.Result, man *image.Manifest, prog *progress.Reporter) (err error) {
	rt, err := os.Open(runtimePath)
	if err != nil {
		return err
	}
	defer rt.Close()
	// A runtime that is itself an image (smolvm built into an image):
	// copy only its runtime part.
	var runtime io.Reader = rt
	if r, err := image.NewReader(rt, mustSize(rt)); err == nil {
		runtime = r.Runtime()
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	w, err := image.NewWriter(prog.Writer("writing "+filepath.Base(out), -1, tmp), runtime)
	if err != nil {
		return err
	}
	if _, err := w.AddPart(image.KernelPart, bytes.NewReader(kernel), image.LZ4); err != nil {
		return err
	}
	if root.Initramfs != nil {
		if _, err := w.AddPart(image.InitramfsPart, bytes.NewReader(root.Initramfs), image.LZ4); err != nil {
			return err
		}
	}
	if root.EROFS != nil {
		// Blocks: served to the guest in place through virtio-blk,
		// each block decoded and checked on the host as it is read.
		if _, err := w.AddPart(image.RootFSPart, bytes.NewReader(root.EROFS), image.Blocks); err != nil {
			return err
		}
	}
	if _, err := w.AddManifest(man); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	prog.Done("wrote %s", out)
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

func mustSize(f *os.File) int64 {
	st, err := f.Stat()
	if err != nil {
		return 0
	}
	return st.Size()
}

// parseMemory accepts a size in MiB: "128", "128M", "128MiB", "1G", "1GiB".
func parseMemory(s string) (int, error) {
	orig := s
	s = strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "IB"), "B")
	mult := 1
	switch {
	case strings.HasSuffix(s, "G"):
		mult, s = 1024, strings.TrimSuffix(s, "G")
	case strings.HasSuffix(s, "M"):
		s = strings.TrimSuffix(s, "M")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("--memory %q: want a size like 128M or 1G", orig)
	}
	return n * mult, nil
}

// splitCommand returns the entrypoint and default arguments: from
// --entrypoint when given (a JSON array or whitespace-separated words),
// with every positional word a default argument; otherwise the first
// positional word is the entrypoint.
func splitCommand(entrypoint string, args []string) (entry, defArgs []string, err error) {
	switch e := strings.TrimSpace(entrypoint); {
	case strings.HasPrefix(e, "["):
		if err := json.Unmarshal([]byte(e), &entry); err != nil {
			return nil, nil, fmt.Errorf("--entrypoint %s: not a JSON array of strings: %v", e, err)
		}
	case e != "":
		entry = strings.Fields(e)
	}
	if len(entry) > 0 {
		return entry, args, nil
	}
	if len(args) == 0 {
		return nil, nil, errors.New("build: no entrypoint: put the program to run after --, e.g. -- busybox echo hello")
	}
	return args[:1], args[1:], nil
}
