package vmm

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/smolvm/smolvm/internal/arch/x86"
	"github.com/smolvm/smolvm/internal/devices/legacy"
	"github.com/smolvm/smolvm/internal/guest/protocol"
	"github.com/smolvm/smolvm/internal/kvm"
	"github.com/smolvm/smolvm/internal/loader"
	"github.com/smolvm/smolvm/internal/memory"
	"github.com/smolvm/smolvm/internal/virtio"
	"github.com/smolvm/smolvm/internal/virtio/blk"
	"github.com/smolvm/smolvm/internal/virtio/console"
	"github.com/smolvm/smolvm/internal/virtio/rng"
)

// CompatMode selects whether the emulating-host command line is added.
type CompatMode int

const (
	CompatAuto   CompatMode = iota // probe the host at start-up
	CompatAlways                   // always add CompatCmdline
	CompatNever                    // never add it, skip the probe
)

// Limits on what a configuration may ask for.
const (
	MinMemoryMiB = 16
	MaxMemoryMiB = 64 << 10
)

// Config describes one microVM run. Libraries take options and never read
// flags or the environment: the CLI fills this in.
type Config struct {
	// Kernel is a flat kernel (what images store; vmlinux.Flatten makes
	// one from an uncompressed ELF vmlinux with a PVH entry), decoded
	// straight into guest memory. The VMM takes no ELF itself: parsing
	// ELF here would put debug/elf and its decompressors (200 KB) into
	// the image runtime, which every image carries uncompressed.
	Kernel io.Reader
	// KernelMap, when set, is the same kernel in the mapped format
	// (loader.EncodeMapped), mapped into guest memory instead of
	// decoding Kernel, which is then not read.
	KernelMap *os.File
	// Initrd is a newc cpio archive of InitrdSize bytes with smol-init
	// at /.smolvm/init, read straight into guest memory.
	Initrd     io.Reader
	InitrdSize int64
	Init       protocol.Config // written into the guest at every boot
	MemoryMiB  int
	VCPUs      int
	Cmdline    string // extra kernel command line
	// Stdout and Stderr receive the program's output (virtio console
	// ports 1 and 2; COM1 and COM2 for a guest without them). Stdin,
	// when set, is the program's input (port 0); nil gives it end of
	// file.
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Debug  bool // kernel messages to Stderr
	Compat CompatMode
	// Profile, when set, samples guest RIP on vCPU 0 (see Profile).
	Profile *Profile
	// Disks are virtio block devices, /dev/vda first.
	Disks []Disk
	// RootBoot boots with no initramfs: the kernel mounts Disks[0] as /
	// (read-only, Init.Root.FSType) and runs smol-init from it at
	// protocol.RootInitPath. Init travels after the disk's data
	// (protocol.DiskConfigTail); Initrd must be nil.
	RootBoot bool
}

// Disk is a virtio block device's backing store. Backend may also be an
// io.WriterAt with Sync (an *os.File) for a writable disk.
type Disk struct {
	Backend  io.ReaderAt
	Size     int64
	ReadOnly bool
	ID       string // what the guest reads with GET_ID (at most 20 bytes)
}

// Timings are timestamps of the run's milestones, taken on the host.
// FirstRunMono is CLOCK_MONOTONIC at the first KVM_RUN, comparable with
// timestamps other processes take (a benchmark harness that started us).
type Timings struct {
	Start        time.Time
	FirstRun     time.Time
	FirstRunMono time.Duration
	InitStart    time.Time // smol-init's markers
	ProgramStart time.Time
	ProgramExit  time.Time
	End          time.Time
}

// Result is how a run ended.
type Result struct {
	Status  int // the program's exit status, as smol-init reported it
	Probe   *ProbeResult
	Cmdline string
	Timings Timings
	// VMMRSSKiB is the VMM's resident memory outside guest RAM at the
	// end of the run.
	VMMRSSKiB int64
}

// ErrNoStatus is returned when the guest stopped (reset or power-off)
// without smol-init reporting an exit status, e.g. after a kernel panic.
var ErrNoStatus = errors.New("the guest stopped before the program's exit status was reported (kernel panic or early failure); rerun with SMOLVM_DEBUG=1 to see kernel messages")

// ErrInit is returned when smol-init reported that it could not start
// the program's environment.
var ErrInit = errors.New("smol-init failed inside the guest (its message is above)")

// Machine is a configured microVM.
type Machine struct {
	cfg           Config
	sys           *kvm.System
	vm            *kvm.VM
	mem           *memory.Memory
	cpus          []*kvm.VCPU
	bus           PortBus
	mmio          MMIOBus
	virtio        []*virtio.MMIO // reset before guest memory is unmapped
	kernelLoad    sync.WaitGroup // decoding the kernel into guest memory (New)
	kernel        *loader.Kernel // its result, read after kernelLoad.Wait
	kernelErr     error
	probing       sync.WaitGroup // the emulation probe (New)
	probeErr      error          // its result, read after probing.Wait
	virtioCmdline string         // virtio_mmio.device= declarations
	rootCmdline   string         // root= and init= for RootBoot
	console       *console.Device
	kicks         []*os.File // ioeventfds of virtio queues
	kickWG        sync.WaitGroup
	pendingKicks  []pendingKick  // ioeventfds for registerKicks
	kickReg       sync.WaitGroup // registerKicks in flight
	irqFDs        []int
	com1          *legacy.Serial
	com2          *legacy.Serial
	cmdline       string
	probe         *ProbeResult

	tids      []atomic.Int32 // OS thread of each running vCPU, for kicks
	stopped   atomic.Bool
	sampleDue atomic.Bool
	done      chan struct{}
	started   chan struct{} // closed at the first KVM_RUN (see Started)
	startOnce sync.Once

	mu      sync.Mutex // guards the fields below
	timings Timings
	status  int
	ended   bool
	err     error
}

// New creates the VM, places kernel and initramfs and prepares the
// vCPUs. Nothing runs until Run.
func New(cfg Config) (_ *Machine, err error) {
	if cfg.VCPUs < 1 || cfg.VCPUs > x86.MaxVCPUs {
		return nil, fmt.Errorf("%d vCPUs: must be 1 to %d", cfg.VCPUs, x86.MaxVCPUs)
	}
	if cfg.MemoryMiB < MinMemoryMiB || cfg.MemoryMiB > MaxMemoryMiB {
		return nil, fmt.Errorf("%d MiB of memory: must be %d to %d", cfg.MemoryMiB, MinMemoryMiB, MaxMemoryMiB)
	}
	if cfg.Stdout == nil {
		cfg.Stdout = io.Discard
	}
	if cfg.Stderr == nil {
		cfg.Stderr = io.Discard
	}
	m := &Machine{cfg: cfg, done: make(chan struct{}), started: make(chan struct{})}
	m.timings.Start = time.Now()
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	if m.sys, err = kvm.Open(); err != nil {
		return nil, err
	}
	for _, c := range []struct {
		cap  int
		name string
	}{{kvm.CapIRQChip, "KVM_CAP_IRQCHIP"}, {kvm.CapUserMemory, "KVM_CAP_USER_MEMORY"}, {kvm.CapImmediateExit, "KVM_CAP_IMMEDIATE_EXIT"}} {
		if m.sys.CheckExtension(c.cap) == 0 {
			return nil, fmt.Errorf("%w: the host's KVM lacks %s", kvm.ErrNoKVM, c.name)
		}
	}
	// What KVM supports, for the vCPUs' CPUID, while the VM is made.
	var (
		supported    []kvm.CPUIDEntry2
		supportedErr error
		cpuid        sync.WaitGroup
	)
	cpuid.Add(1)
	go func() {
		defer cpuid.Done()
		supported, supportedErr = m.sys.SupportedCPUID()
	}()
	defer cpuid.Wait() // m.sys stays open until it is done
	if m.vm, err = m.sys.CreateVM(); err != nil {
		return nil, err
	}
	// Guest memory first: registering a memory slot after the IRQ chip
	// exists costs 5-10 ms on some hosts, 0.1 ms before (see
	// setupMemory).
	if err = m.setupMemory(); err != nil {
		return nil, err
	}
	// Placing the kernel needs only guest memory: it runs while KVM
	// devices and vCPUs are created, on the other core. setupVCPUs
	// joins it.
	m.kernelLoad.Add(1)
	go func() {
		defer m.kernelLoad.Done()
		m.kernel, m.kernelErr = m.loadKernel()
	}()
	if err = m.vm.SetTSSAddr(x86.TSSAddr); err != nil {
		return nil, err
	}
	if err = m.vm.SetIdentityMapAddr(x86.IdentityMapAddr); err != nil {
		return nil, err
	}
	if err = m.vm.CreateIRQChip(); err != nil {
		return nil, err
	}
	if err = m.vm.CreatePIT2(); err != nil {
		return nil, err
	}
	cpuid.Wait()
	if supportedErr != nil {
		return nil, supportedErr
	}
	if err = m.createVCPUs(supported); err != nil {
		return nil, err
	}
	// The emulation probe runs on the first vCPU (before its boot
	// state is set) while the devices are set up.
	if cfg.Compat == CompatAuto {
		m.probing.Add(1)
		go func() {
			defer m.probing.Done()
			p, err := probe(m.cpus[0], m.mem)
			m.probe, m.probeErr = &p, err
		}()
	}
	if err = m.setupDevices(); err != nil {
		return nil, err
	}
	if cfg.RootBoot {
		if err = m.setupRootBoot(); err != nil {
			return nil, err
		}
	}
	if err = m.setupVirtio(); err != nil {
		return nil, err
	}
	if err = m.setupVCPUs(); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Machine) setupMemory() error {
	ramSize := uint64(m.cfg.MemoryMiB) << 20
	var ranges []memory.Range
	for _, r := range x86.RAMRanges(ramSize) {
		ranges = append(ranges, memory.Range{Addr: r[0], Size: r[1]})
	}
	var err error
	if m.mem, err = memory.New(ranges...); err != nil {
		return err
	}
	// The slots are registered before the IRQ chip is created. The
	// host kernel waits for an SRCU grace period in each memory slot
	// change; measured on this project's machines (KVM 6.18, PVM), the
	// first slot of a VM takes 0.1 ms before KVM_CREATE_IRQCHIP and
	// 5-10 ms after it, one or two of the host's timer ticks. The IRQ
	// chip's set-up leaves grace-period work pending, which a slot
	// change made afterwards waits for; made before, nothing waits for
	// it (it ends in the background within 50 ms). BenchmarkSlotOrder
	// measures both orders.
	// The VMM writes a few pages of boot structures in the first
	// 2 MiB (GDT, probe page tables, MP table, start info, command
	// line): with a huge page there, the first write would fault in and
	// zero all 2 MiB, which costs 2-5 ms where the outer hypervisor has
	// reclaimed the memory (docs/kvm-emulating-hosts.md).
	m.mem.NoHugePages(0, x86.LowMemHugePageEnd)
	for i, r := range m.mem.Regions() {
		if err := m.vm.SetUserMemoryRegion(uint32(i), r.GuestAddr, r.Size(), r.HostAddr()); err != nil {
			return err
		}
	}
	return m.mem.WriteAt(x86.GDT(), x86.GDTAddr)
}

func (m *Machine) setupDevices() error {
	m.com1 = legacy.NewSerial(m.cfg.Stdout, m.edge(x86.COM1IRQ))
	m.com2 = legacy.NewSerial(m.cfg.Stderr, m.edge(x86.COM2IRQ))
	ctl := &legacy.Control{
		Exit:      func(s byte) { m.finish(int(s), nil) },
		Marker:    m.marker,
		InitError: func() { m.finish(0, ErrInit) },
	}
	reset := legacy.NewI8042(func() { m.finish(0, ErrNoStatus) })
	for _, d := range []struct {
		base, n uint16
		dev     PortDevice
	}{
		{x86.COM1Port, x86.UARTPorts, m.com1},
		{x86.COM2Port, x86.UARTPorts, m.com2},
		{x86.I8042DataPort, x86.I8042CommandPort - x86.I8042DataPort + 1, reset},
		{x86.ControlPortExit, legacy.ControlPorts, ctl},
	} {
		if err := m.bus.Add(d.base, d.n, d.dev); err != nil {
			return err
		}
	}
	return nil
}

// createVCPUs creates the vCPUs with their CPUID, MSRs, FPU and LAPIC.
func (m *Machine) createVCPUs(supported []kvm.CPUIDEntry2) error {
	for i := 0; i < m.cfg.VCPUs; i++ {
		cpu, err := m.vm.CreateVCPU(i)
		if err != nil {
			return err
		}
		m.cpus = append(m.cpus, cpu)
		if err := cpu.SetCPUID2(x86.CPUID(supported, i, m.cfg.VCPUs)); err != nil {
			return err
		}
		if err := cpu.SetMSRs(x86.BootMSRs()); err != nil {
			return err
		}
		if err := cpu.SetFPU(x86.BootFPU()); err != nil {
			return err
		}
		lapic, err := cpu.LAPIC()
		if err != nil {
			return err
		}
		x86.SetLINTs(&lapic)
		if err := cpu.SetLAPIC(lapic); err != nil {
			return err
		}
	}
	m.tids = make([]atomic.Int32, len(m.cpus))
	return nil
}

// setupVCPUs places the initramfs, joins the kernel and the probe, and
// sets the boot vCPU's entry state and the command line. The probe (low
// pages), the kernel (its own addresses) and the initramfs (the top of
// RAM) touch disjoint guest memory and read the image through
// independent readers, so they run at once.
func (m *Machine) setupVCPUs() error {
	ramSize := uint64(m.cfg.MemoryMiB) << 20
	var (
		initrdAddr, initrdSize uint64
		err                    error
	)
	// The initramfs goes at the top of low RAM whatever the kernel's
	// size; that they do not overlap is checked once both are known.
	if !m.cfg.RootBoot {
		initrdAddr, initrdSize, err = m.loadInitrd(0, x86.RAMRanges(ramSize)[0][1])
	}
	m.probing.Wait()
	m.kernelLoad.Wait()
	k := m.kernel
	for _, e := range []error{m.kernelErr, err, m.probeErr} {
		if e != nil {
			return e
		}
	}
	if initrdSize > 0 && k.End > initrdAddr {
		return fmt.Errorf("initramfs of %d MiB does not fit in guest memory above the kernel; give the VM more memory (--memory)", initrdSize>>20)
	}
	compat := m.cfg.Compat == CompatAlways || (m.probe != nil && m.probe.Emulated)
	level := QuietCmdline
	if m.cfg.Debug {
		level = DebugCmdline
	}
	var extra string
	if compat {
		extra = CompatCmdline
	}
	boot := m.rootCmdline
	if !m.cfg.RootBoot {
		boot = InitrdCmdline
	}
	m.cmdline = Cmdline(BaseCmdline, level, extra, m.virtioCmdline, boot, m.cfg.Cmdline)

	mp, err := x86.MPTable(m.cfg.VCPUs)
	if err != nil {
		return err
	}
	if err := m.mem.WriteAt(mp, x86.MPTableAddr); err != nil {
		return err
	}
	if err := x86.WriteStartInfo(m.mem, x86.StartInfo{
		Cmdline:    m.cmdline,
		InitrdAddr: initrdAddr,
		InitrdSize: initrdSize,
		Memmap:     x86.Memmap(ramSize),
	}); err != nil {
		return err
	}
	sregs, err := m.cpus[0].Sregs()
	if err != nil {
		return err
	}
	if err := m.cpus[0].SetSregs(x86.PVHSregs(sregs)); err != nil {
		return err
	}
	return m.cpus[0].SetRegs(x86.PVHRegs(k.Entry))
}

// setupVirtio puts each disk on the MMIO bus as a virtio-mmio device and
// declares it on the kernel command line (no ACPI, no PCI: the kernel
// learns about virtio-mmio devices from virtio_mmio.device=).
func (m *Machine) setupVirtio() error {
	// The program's stdio; see package console for why ports, not hvc.
	// It must be the first device declared: Linux numbers virtio
	// devices in probe order across all types and names console ports
	// after that number, and protocol.ConsoleStdio says /dev/vport0pN.
	// (Disks are named vda, vdb, ... among themselves, in order.)
	m.console = console.New([]console.Port{
		{Name: "stdin", In: m.cfg.Stdin},
		{Name: "stdout", Out: m.cfg.Stdout},
		{Name: "stderr", Out: m.cfg.Stderr},
	})
	devs := []virtio.Device{m.console}
	// Entropy from the host, so the guest's RNG never waits for jitter.
	devs = append(devs, rng.New(nil, 0))
	for _, d := range m.cfg.Disks {
		devs = append(devs, blk.New(d.Backend, d.Size, d.ReadOnly, d.ID))
	}
	if len(devs) > x86.MaxVirtioDevices {
		return fmt.Errorf("%d disks: at most %d", len(m.cfg.Disks), x86.MaxVirtioDevices-(len(devs)-len(m.cfg.Disks)))
	}
	var decl []string
	for i, dev := range devs {
		base := uint64(x86.VirtioMMIOBase + i*x86.VirtioMMIOStride)
		irq := uint32(x86.VirtioIRQBase + i)
		raise, err := m.irqFD(irq)
		if err != nil {
			return err
		}
		t := virtio.NewMMIO(dev, m.mem, raise)
		if err := m.mmio.Add(base, x86.VirtioMMIOStride, t); err != nil {
			return err
		}
		if err := m.ioEventFDs(t, base); err != nil {
			return err
		}
		m.virtio = append(m.virtio, t)
		decl = append(decl, fmt.Sprintf("virtio_mmio.device=%dK@%#x:%d", x86.VirtioMMIOStride>>10, base, irq))
	}
	m.virtioCmdline = strings.Join(decl, " ")
	m.registerKicks()
	return nil
}

// edge returns a function raising an edge on interrupt line gsi.
func (m *Machine) edge(gsi uint32) func() {
	return func() {
		// KVM latches the rising transition.
		m.vm.IRQLine(gsi, true)
		m.vm.IRQLine(gsi, false)
	}
}

// loadKernel places the kernel in guest memory.
func (m *Machine) loadKernel() (*loader.Kernel, error) {
	if m.cfg.KernelMap != nil {
		return loader.MapKernel(m.mem, m.cfg.KernelMap)
	}
	if m.cfg.Kernel == nil {
		return nil, errors.New("no kernel")
	}
	br := bufio.NewReader(m.cfg.Kernel)
	k, err := loader.LoadFlat(m.mem, br)
	if err != nil {
		return nil, err
	}
	// Read to the end: a verifying reader (image.PartReader) gives its
	// verdict there.
	if err := expectEOF(br); err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	return k, nil
}

// loadInitrd places the image's initramfs followed by a second cpio
// archive holding this run's configuration for smol-init, as high as
// possible below top. Linux unpacks concatenated archives in order.
// initConfig is the run configuration as smol-init receives it.
func (m *Machine) initConfig() protocol.Config {
	cfg := m.cfg.Init
	cfg.Debug = cfg.Debug || m.cfg.Debug
	if cfg.Stdio == nil {
		s := protocol.ConsoleStdio
		cfg.Stdio = &s
	}
	return cfg
}

func (m *Machine) loadInitrd(kernelEnd, top uint64) (addr, size uint64, err error) {
	extra, err := ConfigArchive(m.initConfig())
	if err != nil {
		return 0, 0, err
	}
	base := uint64(m.cfg.InitrdSize)
	if m.cfg.Initrd == nil || m.cfg.InitrdSize < 0 {
		base = 0
	}
	pad := (4 - base%4) % 4 // each archive starts 4-byte aligned
	size = base + pad + uint64(len(extra))
	addr, err = loader.InitrdAddr(size, kernelEnd, top, x86.InitrdAlign)
	if err != nil {
		return 0, 0, err
	}
	dst, err := m.mem.Slice(addr, size)
	if err != nil {
		return 0, 0, err
	}
	if base > 0 {
		if _, err := io.ReadFull(m.cfg.Initrd, dst[:base]); err != nil {
			return 0, 0, fmt.Errorf("read initramfs: %w", err)
		}
		if err := expectEOF(m.cfg.Initrd); err != nil {
			return 0, 0, fmt.Errorf("initramfs: %w", err)
		}
	}
	clear(dst[base : base+pad])
	copy(dst[base+pad:], extra)
	return addr, size, nil
}

// expectEOF reads once more and wants the end of the stream.
func expectEOF(r io.Reader) error {
	var one [1]byte
	n, err := r.Read(one[:])
	switch {
	case n > 0:
		return errors.New("longer than expected")
	case errors.Is(err, io.EOF):
		return nil
	case err == nil:
		return expectEOF(r)
	}
	return err
}

// Cmdline is the kernel command line the guest boots with.
func (m *Machine) Cmdline() string { return m.cmdline }

// Probe is the emulation probe's result (nil when it was skipped).
func (m *Machine) Probe() *ProbeResult { return m.probe }

// Signal forwards a host signal to the program in the guest.
func (m *Machine) Signal(sig syscall.Signal) {
	if sig > 0 && sig < 32 {
		m.com2.Enqueue([]byte{byte(sig)})
	}
}

// Started is closed when the guest first runs, or when the run ends
// without it having run: work that should not take a core from the
// VMM's start-up waits for it.
func (m *Machine) Started() <-chan struct{} { return m.started }

func (m *Machine) markStarted() { m.startOnce.Do(func() { close(m.started) }) }

// Stop ends the run from outside (e.g. a user who insists), reporting
// status as the program's.
func (m *Machine) Stop(status int, err error) { m.finish(status, err) }

// Run runs the vCPUs until the guest reports an exit status or stops.
func (m *Machine) Run() (*Result, error) {
	if p := m.cfg.Profile; p != nil && p.Interval > 0 {
		if p.Samples == nil {
			p.Samples = map[uint64]int{}
		}
		go m.profiler()
	}
	var wg sync.WaitGroup
	for i := range m.cpus {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.runVCPU(i)
		}()
	}
	wg.Wait()
	m.markStarted()
	m.mu.Lock()
	clean := m.ended && m.err == nil
	m.mu.Unlock()
	if clean {
		// The program has exited: everything it wrote is in the
		// console's queues; the host gets all of it before we return.
		m.console.Drain()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.timings.End = time.Now()
	res := &Result{Status: m.status, Probe: m.probe, Cmdline: m.cmdline, Timings: m.timings, VMMRSSKiB: m.vmmRSSKiB()}
	if !m.ended {
		return res, errors.New("vCPUs stopped without a reason")
	}
	for _, err := range []error{m.com1.OutputError(), m.console.WriteError()} {
		if err != nil && m.err == nil {
			fmt.Fprintf(m.cfg.Stderr, "smolvm: program output was lost: %v\n", err)
			break
		}
	}
	return res, m.err
}

// finish records how the run ended (the first report wins) and stops
// every vCPU.
func (m *Machine) finish(status int, err error) {
	m.mu.Lock()
	if !m.ended {
		m.ended, m.status, m.err = true, status, err
	}
	m.mu.Unlock()
	m.markStarted()
	if m.stopped.Swap(true) {
		return
	}
	close(m.done)
	for i, cpu := range m.cpus {
		cpu.SetImmediateExit(true)
		if tid := m.tids[i].Load(); tid != 0 {
			// Any signal makes KVM_RUN return; SIGURG is the one the Go
			// runtime already expects to receive at any time.
			unix.Tgkill(os.Getpid(), int(tid), unix.SIGURG)
		}
	}
}

func (m *Machine) marker(v byte) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	switch v {
	case protocol.MarkerInitStart:
		m.timings.InitStart = now
	case protocol.MarkerProgramStart:
		m.timings.ProgramStart = now
	case protocol.MarkerProgramExit:
		m.timings.ProgramExit = now
	}
}

func (m *Machine) runVCPU(i int) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu := m.cpus[i]
	m.tids[i].Store(int32(unix.Gettid()))
	first := i == 0
	for !m.stopped.Load() {
		if first {
			var ts unix.Timespec
			unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
			m.mu.Lock()
			m.timings.FirstRun = time.Now()
			m.timings.FirstRunMono = time.Duration(ts.Nano())
			m.mu.Unlock()
			m.markStarted()
			first = false
		}
		if err := cpu.Run(); err != nil {
			m.finish(0, err)
			return
		}
		if err := m.handleExit(cpu); err != nil {
			m.finish(0, err)
			return
		}
		if i == 0 && m.cfg.Profile != nil {
			m.recordSample()
		}
	}
}

// handleExit services one exit. A non-nil error ends the run.
func (m *Machine) handleExit(cpu *kvm.VCPU) error {
	switch r := cpu.ExitReason(); r {
	case kvm.ExitIO:
		io, err := cpu.IO()
		if err != nil {
			return err
		}
		for off := 0; off < len(io.Data); off += io.Size {
			d := io.Data[off : off+io.Size]
			if io.Out {
				m.bus.Write(io.Port, d)
			} else {
				m.bus.Read(io.Port, d)
			}
		}
	case kvm.ExitMMIO:
		mm := cpu.MMIO()
		if mm.Write {
			m.mmio.Write(mm.Addr, mm.Data)
		} else {
			m.mmio.Read(mm.Addr, mm.Data)
		}
	case kvm.ExitIntr, kvm.ExitIRQWindowOpen:
		// A signal (stop request or runtime preemption): loop re-checks.
	case kvm.ExitSystemEvent:
		switch cpu.SystemEvent() {
		case kvm.SystemEventShutdown, kvm.SystemEventReset:
			m.finish(0, ErrNoStatus)
		default:
			return m.guestError(cpu, r, fmt.Sprintf("system event %d (guest crash)", cpu.SystemEvent()))
		}
	case kvm.ExitHLT:
		// Only reachable without an in-kernel irqchip: a halted CPU with
		// nothing to wake it.
		m.finish(0, ErrNoStatus)
	case kvm.ExitShutdown:
		return m.guestError(cpu, r, "triple fault: the guest CPU reset itself (kernel crash before its console came up?)")
	case kvm.ExitInternalError:
		sub, data := cpu.InternalError()
		what := fmt.Sprintf("KVM internal error, suberror %d", sub)
		if sub == kvm.InternalErrorEmulation {
			what = "KVM could not emulate a guest instruction (suberror 1); on a host that emulates guest kernel code (see `smolvm doctor`) the guest kernel used an instruction the emulator lacks"
		}
		return m.guestError(cpu, r, fmt.Sprintf("%s; data %#x", what, data))
	case kvm.ExitFailEntry:
		return m.guestError(cpu, r, fmt.Sprintf("hardware entry failure, reason %#x", cpu.FailEntry()))
	case kvm.ExitException:
		vec, code := cpu.Exception()
		return m.guestError(cpu, r, fmt.Sprintf("exception %d, error code %#x", vec, code))
	default:
		return m.guestError(cpu, r, "exit reason the VMM does not handle")
	}
	return nil
}

// Close releases everything New acquired.
func (m *Machine) Close() error {
	m.kernelLoad.Wait() // no write to guest memory before it is unmapped
	m.probing.Wait()    // nor a vCPU running
	// Devices stop touching guest memory before it goes away: kicks
	// first, then device goroutines, then the transports.
	m.stopKicks()
	if m.console != nil {
		m.console.Close()
	}
	for _, t := range m.virtio {
		t.Reset()
	}
	m.virtio = nil
	m.closeIRQFDs()
	for _, c := range m.cpus {
		c.Close()
	}
	m.cpus = nil
	if m.vm != nil {
		m.vm.Close()
		m.vm = nil
	}
	if m.mem != nil {
		m.mem.Close()
		m.mem = nil
	}
	if m.sys != nil {
		m.sys.Close()
		m.sys = nil
	}
	return nil
}
