package vmm

import (
	"bytes"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/smolvm/smolvm/internal/guest/protocol"
)

// configArchive returns a newc cpio archive holding the run configuration
// at protocol.ConfigPath.
func configArchive(js []byte) ([]byte, error) {
	var buf bytes.Buffer
	w := cpio.Newc.Writer(&buf)
	name := protocol.ConfigPath[1:]
	recs := []cpio.Record{
		cpio.Directory(".smolvm", 0o755),
		cpio.StaticFile(name, string(js), 0o444),
	}
	if err := cpio.WriteRecordsAndDirs(w, recs); err != nil {
		return nil, err
	}
	if err := cpio.WriteTrailer(w); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
