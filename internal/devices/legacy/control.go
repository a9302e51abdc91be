package legacy

// Control is the smolvm control device: smol-init writes single bytes to
// its ports (see package protocol) and the VMM acts on them. Offsets are
// relative to protocol.PortExit.
type Control struct {
	// Exit is called with the program's exit status.
	Exit func(status byte)
	// Marker is called with a boot-timer marker.
	Marker func(m byte)
	// InitError is called when smol-init reports it failed.
	InitError func()
	// Probe is called when the emulation probe's loop ends.
	Probe func()
}

// Offsets of the control ports from the first one.
const (
	ControlExit      = 0
	ControlMarker    = 1
	ControlInitError = 2
	ControlProbe     = 3
	// ControlPorts is the span of the device on the port bus.
	ControlPorts = 4
)

// PortRead returns zeros: nothing to read.
func (c *Control) PortRead(off uint16, data []byte) { clear(data) }

// PortWrite dispatches a write; unset callbacks ignore it.
func (c *Control) PortWrite(off uint16, data []byte) {
	if len(data) == 0 {
		return
	}
	var f func()
	switch off {
	case ControlExit:
		if c.Exit != nil {
			f = func() { c.Exit(data[0]) }
		}
	case ControlMarker:
		if c.Marker != nil {
			f = func() { c.Marker(data[0]) }
		}
	case ControlInitError:
		f = c.InitError
	case ControlProbe:
		f = c.Probe
	}
	if f != nil {
		f()
	}
}
