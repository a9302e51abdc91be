// Package protocol is the contract between the host (builder, VMM) and
// smol-init inside the guest: where smol-init finds its configuration and
// how it reports back to the VMM.
//
// It imports nothing beyond the standard library so that the guest binary
// stays small; host and guest both import it, so the two sides cannot drift.
//
// Reporting uses I/O ports because they need no guest driver: smol-init
// writes single bytes to /dev/port at the port's offset (pwrite), the guest
// kernel turns that into an OUT instruction, and the VMM sees a KVM I/O exit.
package protocol

// ConfigPath is where the VMM places the run configuration (JSON of Config)
// in the initramfs it appends at boot.
const ConfigPath = "/.smolvm/init.json"

// I/O ports of the smolvm control device. Each write is one byte.
const (
	// PortExit receives the program's exit status (0-255). The VMM ends
	// the run as soon as it is written: smol-init must have synced
	// filesystems and drained the console before writing it.
	PortExit = 0x600
	// PortMarker receives boot-timer markers (Marker* below); the VMM
	// timestamps each one.
	PortMarker = 0x601
	// PortInitError is written (any value) when smol-init itself cannot
	// do its job (bad configuration, a mount that must work failed). The
	// VMM then exits with its own failure code, not a program status.
	PortInitError = 0x602
)

// Serial ports as seen from the guest. The VMM connects COM1 to the host's
// stdout and COM2 to the host's stderr; the kernel console (messages only
// with SMOLVM_DEBUG=1, panics always) shares COM2.
const (
	StdoutDevice = "/dev/ttyS0"
	StderrDevice = "/dev/ttyS1"
	// SignalDevice is read by smol-init: every byte the host sends on
	// COM2's receive side is a signal number (1-31) the host received
	// and that smol-init must forward to the program.
	SignalDevice = StderrDevice
)

// Boot-timer markers written to PortMarker.
const (
	MarkerInitStart    = 1 // smol-init's main started
	MarkerProgramStart = 2 // the program was started (after fork/exec)
	MarkerProgramExit  = 3 // the program exited and was reaped
)

// Config tells smol-init what to run. The VMM writes it at every boot from
// the image manifest and the arguments given on the host command line.
type Config struct {
	// Argv is the full argument vector; Argv[0] is looked up in PATH
	// (from Env, or the default PATH) when it has no slash.
	Argv []string `json:"argv"`
	// Env holds KEY=VALUE pairs for the program.
	Env []string `json:"env,omitempty"`
	// User, when set, is who the program runs as (see User); nil means
	// root.
	User *User `json:"user,omitempty"`
	// WorkDir is the program's working directory ("/" when empty).
	WorkDir string `json:"workdir,omitempty"`
	// Hostname is set with sethostname ("smolvm" when empty).
	Hostname string `json:"hostname,omitempty"`
	// Debug makes smol-init print each step to the console.
	Debug bool `json:"debug,omitempty"`
	// Root, when set, is the program's root filesystem on a block
	// device; otherwise the program runs in the initramfs itself.
	Root *Root `json:"root,omitempty"`
	// Stdio, when set, names the devices for the program's stdin, stdout
	// and stderr: virtio console ports, which appear in devtmpfs shortly
	// after the driver binds. smol-init waits for them and falls back to
	// the UARTs (a kernel without virtio-console).
	Stdio *Stdio `json:"stdio,omitempty"`
}

// Stdio is the program's standard streams as guest device paths.
type Stdio struct {
	Stdin  string `json:"stdin"`
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
}

// The virtio console's ports as the VMM numbers them: port n carries file
// descriptor n (one console device, so the driver names it vport0).
var ConsoleStdio = Stdio{Stdin: "/dev/vport0p0", Stdout: "/dev/vport0p1", Stderr: "/dev/vport0p2"}

// Root describes a root filesystem on a block device. smol-init mounts
// Device read-only (FSType), puts a tmpfs of at most TmpfsMiB MiB over it
// with overlayfs so the program can write (changes are lost at exit), and
// runs the program chrooted into the result, with /dev, /proc, /sys, /tmp
// and /run mounted inside it.
type Root struct {
	Device   string `json:"device"`    // e.g. "/dev/vda"
	FSType   string `json:"fstype"`    // "erofs"
	TmpfsMiB int    `json:"tmpfs_mib"` // size cap of the writable layer
	// Booted means the kernel itself mounted Device as / and started
	// smol-init from it (see DiskConfigTail): the overlay's lower layer
	// is then / rather than a mount smol-init makes.
	Booted bool `json:"booted,omitempty"`
}

// DefaultPath is the PATH used when Config.Env has none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
