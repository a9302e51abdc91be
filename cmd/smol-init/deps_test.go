package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The guest binary must stay small and must not drag in host-side code.
// Modelled on tailscale's tstest/deptest: list the real dependency graph of
// this command, built as it is for the guest, and check it.

const module = "github.com/smolvm/smolvm"

// badDeps may not be imported, directly or indirectly, nor may anything
// below them.
var badDeps = []string{
	module + "/internal/vmm",
	module + "/internal/kvm",
	module + "/internal/cli",
	module + "/internal/image",
	module + "/internal/loader",
	module + "/internal/devices",
	module + "/internal/arch",
	module + "/internal/rootfs",
	module + "/internal/memory",
	"github.com/spf13/cobra",
	"net/http", // megabytes of code no PID 1 here needs
}

// allowedNonStd is everything outside the standard library smol-init may
// use. Adding to it is a decision about the guest's size: check the binary
// size before and after.
var allowedNonStd = []string{
	module + "/cmd/smol-init",
	module + "/internal/guest/",
	"golang.org/x/sys/",
}

func TestDeps(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	cmd := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}}", ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list: %v\n%s", err, stderr)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, std, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("unexpected go list line %q", line)
		}
		n++
		for _, bad := range badDeps {
			if pkg == bad || strings.HasPrefix(pkg, bad+"/") {
				t.Errorf("smol-init depends on %s (forbidden: %s)", pkg, bad)
			}
		}
		if std == "true" {
			continue
		}
		allowed := false
		for _, a := range allowedNonStd {
			if pkg == a || strings.HasPrefix(pkg, a) {
				allowed = true
			}
		}
		if !allowed {
			t.Errorf("smol-init depends on non-standard package %s, which is not in allowedNonStd", pkg)
		}
	}
	// Guard against a vacuous pass (e.g. go list printing nothing).
	if n < 10 {
		t.Fatalf("go list reported only %d packages:\n%s", n, out)
	}
}
