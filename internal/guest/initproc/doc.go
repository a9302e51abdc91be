// Package initproc is smol-init: process 1 of a smolvm guest. It prepares a
// minimal Linux userland, runs the one program named in the host's
// configuration, and reports the program's exit status to the VMM.
//
// # Life of a boot
//
//  1. Early steps (EarlySteps): mount devtmpfs on /dev and reopen
//     /dev/console as fds 0-2. /dev comes first because everything after
//     it needs /dev/console (messages) or /dev/port (reporting).
//  2. Open /dev/port and write MarkerInitStart. The marker is therefore a
//     few microseconds late; nothing earlier can reach the VMM.
//  3. Namespace steps (Steps): /proc, /sys, /dev/pts, /dev/shm, /run, /tmp
//     and the /dev/fd symlinks.
//  4. Read and validate protocol.ConfigPath; from here on Config.Debug
//     decides whether step lines are printed (lines from before the config
//     was read are held and printed then).
//  5. Set the hostname. With Config.Root, assemble the program's root
//     filesystem (RootSteps, see below); without it, chdir to WorkDir.
//  6. Build the environment, open the program's stdio and the host-signal
//     line, resolve Argv[0] like a shell (inside the program's root, if it
//     has one), start the program (chrooted into that root, in WorkDir),
//     write MarkerProgramStart.
//  7. Supervise: reap every child (PID 1 inherits all orphans), forward
//     signals, until the program itself has been reaped; MarkerProgramExit.
//  8. Kill whatever is left, sync, drain the console, write the status to
//     PortExit, and reboot (the VMM also treats the reset as the end).
//
// If smol-init itself cannot do its job (configuration missing or invalid, a
// required step failing) it prints "smol-init: ..." on the console, writes
// PortInitError and reboots. A program that cannot be started is not an init
// failure: like a shell, smol-init reports status 127 (not found) or 126
// (found but cannot be executed) through PortExit.
//
// # Steps are data
//
// As in u-root's pkg/libinit, the filesystem setup is a list of Step values
// (Dir, Mount, Bind, Symlink, Console, WaitPath), each optionally wrapped in
// Optional. The list is easy to read and review, Config.Debug can print each
// step as it runs, and tests assert the plan without mounting anything.
//
// # Everything OS-facing goes through System
//
// Mounts, stat, hostname, chdir, opening the serial lines, /dev/port, sync,
// console drain, kill-all and reboot are methods of the System interface.
// The real implementation is only used by Main, which refuses to run unless
// it is PID 1, so a smol-init started on a developer's machine cannot mount
// over /proc or reboot it. Starting and reaping the program is not behind
// the interface: tests run real processes (sh, sleep) and check real exit
// statuses and signal delivery; a real chroot is tested only when the tests
// run as root.
//
// # A root filesystem on a disk
//
// Without Config.Root the program runs in the initramfs itself. With it,
// RootSteps build the program's root below StagingDir (/.smolvm), after
// the namespace steps:
//
//	WaitPath  Root.Device, for up to DefaultDeviceWait (devtmpfs node)
//	lower/    Root.Device, Root.FSType, read-only
//	rw/       tmpfs, size=Root.TmpfsMiB (DefaultTmpfsMiB if 0): upper/, work/
//	root/     overlay of lower/ and rw/upper: writable, changes lost at exit
//	root/{dev,proc,sys,tmp,run}  recursive binds of smol-init's own mounts
//
// Mount points the image lacks are created in the overlay (so in the tmpfs,
// never in the image). Any failure is an init failure naming the step, e.g.
// "smol-init: mount -t erofs -o ro /dev/vda /.smolvm/lower: no such device".
//
// Only the program is chrooted (SysProcAttr.Chroot: the child calls chroot,
// chdir(WorkDir), execve); smol-init stays in the initramfs with its open
// /dev/port and serial descriptors, and still opens /dev/ttyS0 and friends
// by path afterwards. That is also why the pseudo filesystems are bound
// into the root rather than moved there. Argv[0], the PATH and WorkDir are
// resolved as the chrooted program will see them (LookPathIn: openat2 with
// RESOLVE_IN_ROOT, so absolute symlinks in the image point into the image),
// and the shell's 126/127 classification applies unchanged. The chroot is
// no security boundary (the program runs as root); the VM is.
//
// The guest kernel needs erofs (or whatever Root.FSType names), overlayfs
// and tmpfs; overlayfs needs xattrs on its upper layer (CONFIG_TMPFS_XATTR)
// to mark directories opaque: without them it mounts anyway but, for
// example, recreating a directory that was deleted from the image fails
// with EIO.
//
// # Go as PID 1
//
// The kernel never delivers a signal to PID 1 that has no handler, but the
// Go runtime installs handlers for nearly all signals, and for SIGHUP, SIGINT
// and SIGTERM its default is to exit, for SIGQUIT, SIGABRT, SIGILL, SIGTRAP,
// SIGSTKFLT and SIGSYS (when sent with kill) to crash. PID 1 exiting panics
// the kernel, so Main registers all of them with signal.Notify before doing
// anything else (CatchSignals). They are caught, not ignored: SIG_IGN would
// be inherited by the program across execve, SIG_DFL-with-handler is not.
//
// For the same reason Main never returns when it is PID 1: after reporting it
// reboots, and if that fails it sleeps forever. Run recovers panics and turns
// them into an init error.
//
// # Serial lines, process groups and signals
//
// The VMM (internal/vmm) wires two UARTs to the host: COM1 (/dev/ttyS0) to
// its stdout, COM2 (/dev/ttyS1, also the kernel console) to its stderr. The
// program's stdout is COM1 and its stderr COM2, where smol-init's own
// messages go too; its stdin is /dev/null because the host sends nothing
// to read (StdinPath and friends). Both lines are put in raw mode: they
// are byte pipes to the host, so "\n" must not become "\r\n" and nothing
// may be echoed back into the host's stderr.
//
// Host signals arrive on COM2's receive side, one byte per signal number
// (ReadHostSignals), and join the signals the guest kernel delivers to
// smol-init in one channel. Those in ForwardedSignals are passed on: SIGINT
// and SIGQUIT to the program's process group, as a terminal does with ^C
// and ^\ (the program runs in a group of its own, so a pipeline started by
// `sh -c` stops as a whole), the rest to the program alone, as kill(1) and
// container runtimes do. Whatever outlives the program is killed anyway.
//
// The program gets no controlling terminal. Nobody types on these lines,
// and a controlling terminal would hurt: when a session leader whose
// controlling terminal is a serial port exits, the kernel hangs the
// terminal up (disassociate_ctty → tty_vhangup_session), and the hangup
// flushes the UART's transmit buffer, losing the program's last output
// before smol-init can drain it. An interactive mode, should one come,
// must therefore make smol-init the session leader owning the terminal and
// the program only its foreground process group (and then ignore SIGTTOU
// before draining, since smol-init would be a background group of its own
// terminal by then).
//
// # Reaping
//
// One goroutine does both reaping and forwarding (Process.Wait), driven by
// SIGCHLD, with wait4(-1, WNOHANG) until nothing is left. The invariant that
// makes forwarding safe: a signal is only ever sent to the program's pid or
// process group while the program has not been reaped, so its pid (and thus
// its group id) cannot have been reused by another process.
//
// SIGCHLD has its own channel of capacity 1: a pending value means a reap
// pass is due, so dropping further SIGCHLDs loses nothing, and a flood of
// other signals cannot crowd it out.
package initproc
