package zzscratch

import (
	"os"
	"testing"

	"github.com/smolvm/smolvm/internal/vmlinux"
)

func TestDump(t *testing.T) {
	d, err := os.ReadFile("/work/main/bin/vmlinux")
	if err != nil {
		t.Skip()
	}
	f, err := vmlinux.Flatten(d)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile("/tmp/kernel.flat", f, 0o644)
}
