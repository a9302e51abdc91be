// Package launch boots a smolvm image file: it opens and verifies the
// image, turns its manifest and the caller's arguments into a VM
// configuration, forwards host signals to the program, and returns the
// program's exit status. It is shared by the image runtime (./app.vm) and
// `smolvm run`, and reads no flags or environment itself.
package launch

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/smolvm/smolvm/internal/guest/protocol"
	"github.com/smolvm/smolvm/internal/image"
	"github.com/smolvm/smolvm/internal/vmm"
)

// ExitFailure is the exit status for smolvm's own failures (a bad image,
// no KVM, a guest that crashed), kept apart from the program's statuses
// as docker does with 125.
const ExitFailure = 125

// forceAfter is how many SIGINT/SIGTERMs end the VM from the host side
// when the program does not exit on its own.
const forceAfter = 3

// Options control one run.
type Options struct {
	// Args, when non-empty, replace the image's default arguments (like
	// arguments to `docker run` replace CMD); the entrypoint stays.
	Args []string
	// Stdin, when set, is the program's standard input; nil gives it end
	// of file.
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Debug  bool
	Compat vmm.CompatMode
	// Timings, when set, receives the run's timings as JSON.
	Timings io.Writer
	// Profile, when set, samples guest RIP during the run.
	Profile *vmm.Profile
	// Disks are extra block devices, after the image's root device:
	// /dev/vda (or /dev/vdb when the image has a root part), and so on.
	Disks []DiskSpec
	// KernelCache is the directory of the kernel cache (kernelcache.go);
	// empty for none.
	KernelCache string
}

// DiskSpec is a host file given to the guest as a block device.
type DiskSpec struct {
	Path     string
	ReadOnly bool
}

// ParseDisk reads PATH[:ro].
func ParseDisk(s string) (DiskSpec, error) {
	d := DiskSpec{Path: s}
	if p, ok := strings.CutSuffix(s, ":ro"); ok {
		d = DiskSpec{Path: p, ReadOnly: true}
	}
	if d.Path == "" {
		return d, fmt.Errorf("--disk %q: want PATH or PATH:ro", s)
	}
	return d, nil
}

// openDisks opens the extra disks; the files stay open until the run ends.
func openDisks(specs []DiskSpec) ([]vmm.Disk, func(), error) {
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	var disks []vmm.Disk
	for _, s := range specs {
		flag := os.O_RDWR
		if s.ReadOnly {
			flag = os.O_RDONLY
		}
		f, err := os.OpenFile(s.Path, flag, 0)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("disk: %w", err)
		}
		files = append(files, f)
		st, err := f.Stat()
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("disk: %w", err)
		}
		if !st.Mode().IsRegular() || st.Size()%512 != 0 || st.Size() == 0 {
			closeAll()
			return nil, nil, fmt.Errorf("disk %s: must be a regular file whose size is a non-zero multiple of 512 bytes (it is %d); e.g. truncate -s 64M %s", s.Path, st.Size(), s.Path)
		}
		var backend io.ReaderAt = f
		if s.ReadOnly {
			backend = readOnly{f} // no WriterAt: the device refuses writes
		}
		disks = append(disks, vmm.Disk{Backend: backend, Size: st.Size(), ReadOnly: s.ReadOnly, ID: filepath.Base(s.Path)})
	}
	return disks, closeAll, nil
}

// readOnly hides a file's write methods.
type readOnly struct{ f *os.File }

func (r readOnly) ReadAt(b []byte, off int64) (int, error) { return r.f.ReadAt(b, off) }

// Run boots the image at path and returns the program's exit status.
// An error means smolvm itself failed; the caller exits ExitFailure.
func Run(path string, o Options) (int, error) {
	// The image stays open for the whole run: a root filesystem part is
	// served to the guest straight from the file.
	img, err := image.Open(path)
	if err != nil {
		return 0, err
	}
	defer img.Close()
	extra, closeDisks, err := openDisks(o.Disks)
	if err != nil {
		return 0, err
	}
	defer closeDisks()
	m, cached, err := create(img, o, extra)
	if err != nil && cached != nil {
		if damage := cached.verdict(); damage != nil {
			cached.close()
			return 0, damage
		}
		// The cached kernel could not be mapped: decode it instead.
		if o.Debug {
			fmt.Fprintf(o.Stderr, "smolvm: cached kernel %s: %v; decoding the image's\n", cached.path, err)
		}
		cached.close()
		noCache := o
		noCache.KernelCache = ""
		m, cached, err = create(img, noCache, extra)
	}
	defer cached.close()
	if err != nil {
		return 0, imageErrorFirst(err)
	}
	defer m.Close()
	if cached != nil {
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			<-m.Started()
			if damage := cached.verdict(); damage != nil {
				m.Stop(0, damage)
			}
		}()
		defer func() { <-stopped }() // before m.Close
	}
	// A kernel decoded this time is written to the cache while the
	// guest boots; the run waits for it before it returns.
	if cached == nil && o.KernelCache != "" {
		filled := make(chan error, 1)
		go func() {
			err := fillKernelCache(img, o.KernelCache, kernelDigest(img))
			debug.FreeOSMemory() // the decoder's buffers: 1 MiB of RSS
			filled <- err
		}()
		defer func() {
			if err := <-filled; err != nil && o.Debug {
				fmt.Fprintf(o.Stderr, "smolvm: kernel cache not written: %v\n", err)
			}
		}()
	}
	if o.Debug {
		fmt.Fprintf(o.Stderr, "smolvm: %v\nsmolvm: kernel command line: %s\n", m.Probe(), m.Cmdline())
	}
	stop := forwardSignals(m, o.Stderr)
	defer stop()
	res, err := m.Run()
	if o.Timings != nil && res != nil {
		writeTimings(o.Timings, res, cached != nil)
	}
	// A damaged image or cache entry fails the run even if the program
	// finished before the check did, and explains a guest that failed.
	if damage := cached.verdict(); damage != nil {
		err = damage
	}
	if err != nil {
		return 0, err
	}
	return res.Status, nil
}

// DefaultRootTmpfsMiB caps the writable layer over a block-device root.
const DefaultRootTmpfsMiB = 64

// create builds the VM from the image. Kernel and initramfs are decoded
// straight into guest memory and their digests checked as they stream; a
// root filesystem part is checked in full and then served in place. A
// mismatch fails here, before anything runs.
//
// With a kernel cache, a cached kernel is mapped instead, and returned
// for the caller to close after the run and to hear the image's kernel
// part verdict from.
func create(img *image.ReadCloser, o Options, extra []vmm.Disk) (_ *vmm.Machine, cached *cachedRun, err error) {
	man, err := img.Manifest()
	if err != nil {
		return nil, nil, err
	}
	var kernelMap *os.File
	if o.KernelCache != "" {
		var miss error
		if cached, miss = cachedKernel(img, o.KernelCache, kernelDigest(img)); cached != nil {
			kernelMap = cached.file
			if o.Debug {
				fmt.Fprintf(o.Stderr, "smolvm: kernel mapped from %s\n", cached.path)
			}
		} else if o.Debug {
			fmt.Fprintf(o.Stderr, "smolvm: kernel not cached (%v): decoding it\n", miss)
		}
	}
	var kernel io.Reader
	if kernelMap == nil {
		pr, err := img.OpenPart(image.KernelPart)
		if err != nil {
			return nil, nil, err
		}
		kernel = pr
	}
	m, err := createWith(img, man, o, extra, kernel, kernelMap)
	return m, cached, err
}

// kernelDigest is the SHA-256 the image's table gives for its kernel.
func kernelDigest(img *image.ReadCloser) string {
	p, _ := img.Part(image.KernelPart)
	return p.SHA256
}

func createWith(img *image.ReadCloser, man *image.Manifest, o Options, extra []vmm.Disk, kernel io.Reader, kernelMap *os.File) (*vmm.Machine, error) {
	var err error
	// An image with a root filesystem and no initramfs boots straight
	// from the root disk (see protocol.DiskConfigTail).
	var initrd *image.PartReader
	_, hasInitrd := img.Part(image.InitramfsPart)
	_, hasRoot := img.Part(image.RootFSPart)
	if hasInitrd || !hasRoot {
		if initrd, err = img.OpenPart(image.InitramfsPart); err != nil {
			return nil, err
		}
	}
	var disks []vmm.Disk
	var root *protocol.Root
	if hasRoot {
		backend, size, err := openRoot(img)
		if err != nil {
			return nil, err
		}
		disks = append(disks, vmm.Disk{Backend: backend, Size: size, ReadOnly: true, ID: "smolvm-root"})
		root = &protocol.Root{Device: protocol.RootDevice, FSType: "erofs", TmpfsMiB: DefaultRootTmpfsMiB, Booted: !hasInitrd}
	}
	disks = append(disks, extra...)
	args := man.Args
	if len(o.Args) > 0 {
		args = o.Args
	}
	argv := append(append([]string{}, man.Entrypoint...), args...)
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	cfg := vmm.Config{
		Init: protocol.Config{
			Argv:     argv,
			User:     man.User,
			Env:      man.Env,
			WorkDir:  man.WorkDir,
			Hostname: man.Hostname,
			Root:     root,
		},
		Disks:     disks,
		MemoryMiB: man.MemoryMiB,
		VCPUs:     man.VCPUs,
		Cmdline:   man.Cmdline,
		Stdin:     o.Stdin,
		Stdout:    o.Stdout,
		Stderr:    o.Stderr,
		Debug:     o.Debug,
		Compat:    o.Compat,
		Profile:   o.Profile,
		RootBoot:  !hasInitrd,
	}
	cfg.Kernel, cfg.KernelMap = kernel, kernelMap
	if initrd != nil {
		cfg.Initrd, cfg.InitrdSize = initrd, initrd.Size()
	}
	m, err := vmm.New(cfg)
	if err != nil {
		return nil, err
	}
	if hasRoot {
		if d, ok := disks[0].Backend.(*stopOnDamage); ok {
			d.stop = func(err error) { m.Stop(0, err) }
		}
	}
	return m, nil
}

// openRoot returns the root filesystem as the guest's disk. A Blocks part
// (what smolvm build writes) has its index checked now and each block as
// the guest reads it; a raw part is checked in full first.
func openRoot(img *image.ReadCloser) (io.ReaderAt, int64, error) {
	p, _ := img.Part(image.RootFSPart)
	if p.Encoding != image.Blocks {
		if err := verifyPart(img, image.RootFSPart); err != nil {
			return nil, 0, err
		}
		sec, err := img.RawSection(image.RootFSPart)
		if err != nil {
			return nil, 0, err
		}
		return sec, sec.Size(), nil
	}
	br, err := img.OpenBlocks(image.RootFSPart)
	if err != nil {
		return nil, 0, err
	}
	return &stopOnDamage{r: br}, br.Size(), nil
}

// stopOnDamage ends the run as smolvm's own failure the first time a
// block of the image fails its check: the guest gets an I/O error for
// that read, and the program does not go on with a damaged root.
type stopOnDamage struct {
	r    io.ReaderAt
	stop func(error) // set once the machine exists
	once sync.Once
}

func (d *stopOnDamage) ReadAt(b []byte, off int64) (int, error) {
	n, err := d.r.ReadAt(b, off)
	if err != nil && !errors.Is(err, io.EOF) && d.stop != nil {
		d.once.Do(func() { d.stop(fmt.Errorf("%w: rebuild or re-download the image", err)) })
	}
	return n, err
}

// verifyPart reads a part through its digest check.
func verifyPart(img *image.ReadCloser, name string) error {
	pr, err := img.OpenPart(name)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, pr)
	return err
}

// forwardSignals relays the signals a program expects to receive to the
// guest. A user who keeps pressing ^C gets the VM stopped from outside
// after forceAfter tries, with the shell's 128+n status.
func forwardSignals(m *vmm.Machine, stderr io.Writer) (stop func()) {
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	done := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case <-done:
				return
			case s := <-ch:
				sig := s.(syscall.Signal)
				m.Signal(sig)
				if sig == syscall.SIGINT || sig == syscall.SIGTERM {
					if n++; n >= forceAfter {
						fmt.Fprintf(stderr, "smolvm: %v received %d times, stopping the VM\n", sig, n)
						m.Stop(128+int(sig), nil)
					}
				}
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}

// Timings is the JSON form of a run's timings: durations in milliseconds
// since the first KVM_RUN, and the monotonic clock at that moment so a
// harness that started the process can compute its start-up cost.
type Timings struct {
	FirstRunMonoNS int64   `json:"first_run_monotonic_ns"`
	SetupMS        float64 `json:"setup_ms"` // VMM start to first KVM_RUN
	InitStartMS    float64 `json:"init_start_ms,omitempty"`
	ProgramStartMS float64 `json:"program_start_ms,omitempty"`
	ProgramExitMS  float64 `json:"program_exit_ms,omitempty"`
	EndMS          float64 `json:"end_ms"`
	Emulated       bool    `json:"emulated_kernel_mode"`
	KernelCached   bool    `json:"kernel_cached"` // mapped from the kernel cache, not decoded
	VMMRSSKiB      int64   `json:"vmm_rss_kib"`
}

func writeTimings(w io.Writer, res *vmm.Result, kernelCached bool) {
	t := res.Timings
	ms := func(at time.Time) float64 {
		if at.IsZero() {
			return 0
		}
		return float64(at.Sub(t.FirstRun)) / 1e6
	}
	out := Timings{
		FirstRunMonoNS: int64(t.FirstRunMono),
		SetupMS:        float64(t.FirstRun.Sub(t.Start)) / 1e6,
		InitStartMS:    ms(t.InitStart),
		ProgramStartMS: ms(t.ProgramStart),
		ProgramExitMS:  ms(t.ProgramExit),
		EndMS:          ms(t.End),
		Emulated:       res.Probe != nil && res.Probe.Emulated,
		KernelCached:   kernelCached,
		VMMRSSKiB:      res.VMMRSSKiB,
	}
	json.NewEncoder(w).Encode(out)
}

// imageErrorFirst returns the *image.Error inside err, if there is one:
// it names the file, the part and what is wrong with it, which is what
// the user needs, not the VMM's steps around it ("kernel: kernel segment
// at ...: image app.vm: part "kernel": SHA-256 mismatch").
func imageErrorFirst(err error) error {
	var ie *image.Error
	if errors.As(err, &ie) {
		return ie
	}
	return err
}

// IsUserError reports whether err is about the input (image, flags)
// rather than a failure inside the VM; used to word messages.
func IsUserError(err error) bool {
	var ie *image.Error
	return errors.As(err, &ie)
}
