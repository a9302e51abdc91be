// Command smolvm-runtime is the slim runtime that `smolvm build` puts at
// the front of every image: it only boots the image appended to its own
// executable (no builder, no CLI library), which keeps images small.
package main

import (
	"fmt"
	"os"

	"github.com/smolvm/smolvm/internal/launch"
	"github.com/smolvm/smolvm/internal/runner"
)

func main() {
	exe, ok, err := runner.SelfImage()
	switch {
	case err != nil:
		fmt.Fprintf(os.Stderr, "smolvm: %v\n", err)
	case !ok:
		fmt.Fprintln(os.Stderr, "smolvm-runtime: this file holds no image; it is the runtime 'smolvm build' copies into images (see 'smolvm build --help')")
	default:
		os.Exit(runner.RunImage(exe, os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(launch.ExitFailure)
}
