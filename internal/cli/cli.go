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
	"github.com/spf13/pflag"

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
	root.SetFlagErrorFunc(suggestFlag)
	if cmd, err := root.ExecuteC(); err != nil {
		fmt.Fprintf(stderr, "smolvm: %v\n", err)
		if strings.Contains(err.Error(), "unknown flag") || strings.Contains(err.Error(), "unknown shorthand") || strings.Contains(err.Error(), "unknown command") || strings.Contains(err.Error(), "accepts") {
			fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
		return launch.ExitFailure
	}
	return status
}

// suggestFlag adds the nearest flag of cmd to an unknown-flag error
// ("--binray" -> "did you mean --binary?").
func suggestFlag(cmd *cobra.Command, err error) error {
	name, ok := strings.CutPrefix(err.Error(), "unknown flag: --")
	if !ok {
		return err
	}
	name, _, _ = strings.Cut(name, "=")
	best, bestDist := "", 3 // suggest only within two edits
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if d := editDistance(name, f.Name); d < bestDist {
			best, bestDist = f.Name, d
		}
	})
	if best == "" {
		return err
	}
	return fmt.Errorf("%w (did you mean --%s?)", err, best)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
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
