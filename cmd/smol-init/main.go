// Command smol-init is process 1 of a smolvm guest: it sets up the guest's
// filesystems, runs the configured program and reports its exit status to
// the VMM. All logic is in package initproc; see its documentation.
//
// Build it static and small:
//
//	CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' ./cmd/smol-init
package main

import (
	"os"

	"github.com/smolvm/smolvm/internal/guest/initproc"
)

func main() {
	// initproc.Main returns only when not running as PID 1.
	os.Exit(initproc.Main())
}
