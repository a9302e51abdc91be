package cli

import (
	"github.com/spf13/cobra"

	"github.com/smolvm/smolvm/internal/runner"
)

func runCmd(status *int) *cobra.Command {
	c := &cobra.Command{
		Use:   "run IMAGE [ARGS...]",
		Short: "Boot an image (the same as running the image file itself)",
		Long: `Boot an image and run its program; smolvm exits with the program's status.

ARGS, when given, replace the image's default arguments. Environment:
  SMOLVM_DEBUG=1             show kernel and smol-init messages on stderr
  SMOLVM_COMPAT=auto|on|off  command line for hosts that emulate guest kernel code
  SMOLVM_TIMINGS=FILE        write boot timings as JSON`,
		Args: cobra.MinimumNArgs(1),
		// Everything after IMAGE belongs to the program, flags included.
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] == "-h" || args[0] == "--help" {
				return cmd.Help()
			}
			*status = runner.RunImage(args[0], args[1:], cmd.OutOrStdout(), cmd.ErrOrStderr())
			return nil
		},
	}
	return c
}
