package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/smolvm/smolvm/internal/launch"
	"github.com/spf13/cobra"

	"github.com/smolvm/smolvm/internal/runner"
)

func runCmd(status *int) *cobra.Command {
	c := &cobra.Command{
		Use:   "run [--disk PATH[:ro]]... IMAGE [ARGS...]",
		Short: "Boot an image (the same as running the image file itself)",
		Long: `Boot an image and run its program; smolvm exits with the program's status.

ARGS, when given, replace the image's default arguments. --disk gives the
guest a host file as a virtio block device (/dev/vda, or /dev/vdb after an
image's own root device, and so on); :ro makes it read-only. Writes the
guest syncs are on the host file when the run ends. Environment:
  SMOLVM_DEBUG=1             show kernel and smol-init messages on stderr
  SMOLVM_COMPAT=auto|on|off  command line for hosts that emulate guest kernel code
  SMOLVM_TIMINGS=FILE        write boot timings as JSON`,
		Args: cobra.MinimumNArgs(1),
		// Everything after IMAGE belongs to the program, flags included.
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Flags come before IMAGE; everything after it is the
			// program's, flags included.
			var disks []launch.DiskSpec
			for len(args) > 0 && strings.HasPrefix(args[0], "-") {
				switch a := args[0]; {
				case a == "-h" || a == "--help":
					return cmd.Help()
				case a == "--disk" && len(args) > 1:
					d, err := launch.ParseDisk(args[1])
					if err != nil {
						return err
					}
					disks, args = append(disks, d), args[2:]
				case strings.HasPrefix(a, "--disk="):
					d, err := launch.ParseDisk(strings.TrimPrefix(a, "--disk="))
					if err != nil {
						return err
					}
					disks, args = append(disks, d), args[1:]
				default:
					return fmt.Errorf("run: unknown flag %s (flags go before IMAGE)", a)
				}
			}
			if len(args) == 0 {
				return errors.New("run: no IMAGE given")
			}
			*status = runner.RunImageWith(args[0], args[1:], disks, cmd.OutOrStdout(), cmd.ErrOrStderr())
			return nil
		},
	}
	return c
}
