// Package cli is the smolvm command line: one file per subcommand, each
// turning flags into calls of the library packages (rootfs, image,
// launch, vmm). No VM logic lives here.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/smolvm/smolvm/internal/launch"
)

// Version is set at build time with -ldflags "-X ...cli.Version=...".
var Version = "dev"

// Main runs the CLI with args (without the program name) and returns the
// process exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "smolvm",
		Short:         "Build and run single-file microVMs",
		Long:          "smolvm packs a program, a Linux kernel and smol-init into one executable file that boots the program in a KVM microVM.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	status := 0
	root.AddCommand(buildCmd(), runCmd(&status), inspectCmd(), doctorCmd(), profileCmd(&status))
	if err := root.Execute(); err != nil {
		fmt.Fprintf(stderr, "smolvm: %v\n", err)
		if strings.Contains(err.Error(), "unknown flag") || strings.Contains(err.Error(), "unknown command") || strings.Contains(err.Error(), "accepts") {
			fmt.Fprintln(stderr, "Run 'smolvm --help' for usage.")
		}
		return launch.ExitFailure
	}
	return status
}

// assetPath finds a file smolvm needs at build time (the kernel,
// smol-init, the runtime): an explicit path wins, then the environment
// variable, then a file of that name next to the smolvm executable.
func assetPath(explicit, envVar, name, hint string) (string, error) {
	if explicit != "" {
		if _, err := os.Stat(explicit); err != nil {
			return "", err
		}
		return explicit, nil
	}
	if p := os.Getenv(envVar); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s: %w", envVar, err)
		}
		return p, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New(hint)
}
