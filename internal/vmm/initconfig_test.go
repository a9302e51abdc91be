package vmm

import (
	"bytes"
	"io"
	"testing"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/smolvm/smolvm/internal/guest/protocol"
)

// The hand-written archive must read back with a real cpio reader.
func TestConfigArchiveReadsBack(t *testing.T) {
	js := []byte(`{"argv":["busybox","echo","hi"]}`)
	arch := configArchive(js)
	if len(arch)%4 != 0 {
		t.Fatalf("archive length %d is not 4-byte aligned", len(arch))
	}
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(arch)))
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, r := range recs {
		if "/"+r.Name == protocol.ConfigPath {
			found = true
			data, _ := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
			if !bytes.Equal(data, js) {
				t.Errorf("config content %q, want %q", data, js)
			}
		}
	}
	if !found {
		t.Fatalf("no %s in %v", protocol.ConfigPath, recs)
	}
}
