package vmm

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/smolvm/smolvm/internal/guest/protocol"
)

// ConfigArchive returns the cpio archive the VMM appends to the image's
// initramfs at boot: cfg as JSON at protocol.ConfigPath. Exported for the
// benchmark's reference run under QEMU, which must boot the same bytes.
func ConfigArchive(cfg protocol.Config) ([]byte, error) {
	js, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	return configArchive(js), nil
}

// configArchive returns a newc cpio archive holding the run configuration
// at protocol.ConfigPath (and its directory). It is written by hand, a
// few lines, so that the runtime in every image does not carry a cpio
// library.
func configArchive(js []byte) []byte {
	var b strings.Builder
	dir := strings.TrimPrefix(protocol.ConfigPath[:strings.LastIndex(protocol.ConfigPath, "/")], "/")
	ino := 1
	entry := func(name string, mode uint32, data []byte) {
		// newc: "070701" then 13 8-digit hex fields, the NUL-terminated
		// name padded to 4 bytes (counting the 110-byte header), the data
		// padded to 4 bytes.
		fmt.Fprintf(&b, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
		ino++
		b.WriteString(name)
		b.WriteByte(0)
		pad(&b)
		b.Write(data)
		pad(&b)
	}
	entry(dir, 0o040755, nil)
	entry(strings.TrimPrefix(protocol.ConfigPath, "/"), 0o100444, js)
	entry("TRAILER!!!", 0, nil)
	return []byte(b.String())
}

func pad(b *strings.Builder) {
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
}
