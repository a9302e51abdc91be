// Command smolvm builds and runs single-file microVMs. When its own
// executable carries an image (it was used as an image's runtime), it
// boots that image with all arguments going to the program.
package main

import (
	"fmt"
	"os"

	"github.com/smolvm/smolvm/internal/cli"
	"github.com/smolvm/smolvm/internal/launch"
	"github.com/smolvm/smolvm/internal/runner"
)

func main() {
	exe, ok, err := runner.SelfImage()
	if err != nil {
		fmt.Fprintf(os.Stderr, "smolvm: %v\n", err)
		os.Exit(launch.ExitFailure)
	}
	if ok {
		os.Exit(runner.RunImage(exe, os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
