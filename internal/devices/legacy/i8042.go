package legacy

// i8042 command and status values.
const (
	i8042CmdReset = 0xfe // pulse the CPU reset line
	// i8042Data and i8042Command are the device's offsets on the port bus
	// when it is mapped at the data port with a span covering 0x60..0x64.
	i8042Data    = 0
	i8042Command = 4
)

// I8042 is the keyboard controller's reset line and nothing else: Linux
// reboots (reboot=k) by writing 0xfe to its command port, which is how a
// guest asks to stop. No keyboard is attached; reads return 0 (output
// buffer empty, input buffer empty).
type I8042 struct {
	reset func()
}

// NewI8042 returns an i8042 that calls reset when the guest pulses the
// reset line.
func NewI8042(reset func()) *I8042 { return &I8042{reset: reset} }

// PortRead handles reads of the data (offset 0) and status (offset 4)
// ports: nothing to read, ready for commands.
func (k *I8042) PortRead(off uint16, data []byte) {
	clear(data)
}

// PortWrite handles writes; only the reset command does anything.
func (k *I8042) PortWrite(off uint16, data []byte) {
	if off == i8042Command && len(data) > 0 && data[0] == i8042CmdReset {
		k.reset()
	}
}
