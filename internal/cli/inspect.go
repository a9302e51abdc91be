package cli

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/smolvm/smolvm/internal/image"
)

// inspectOutput is the --json form.
type inspectOutput struct {
	File        string          `json:"file"`
	RuntimeSize int64           `json:"runtime_size"`
	Manifest    *image.Manifest `json:"manifest"`
	Parts       []image.Part    `json:"parts"`
	// Verified is true when --verify checked every digest (it fails
	// otherwise).
	Verified bool `json:"verified,omitempty"`
}

func inspectCmd() *cobra.Command {
	var asJSON, verify bool
	c := &cobra.Command{
		Use:   "inspect IMAGE",
		Short: "Show an image's manifest, parts, sizes and digests",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			img, err := image.Open(args[0])
			if err != nil {
				return err
			}
			defer img.Close()
			if verify {
				if err := img.Verify(); err != nil {
					return err
				}
			}
			man, err := img.Manifest()
			if err != nil {
				return err
			}
			out := inspectOutput{File: args[0], RuntimeSize: img.RuntimeSize(), Manifest: man, Parts: img.Parts(), Verified: verify}
			w := cmd.OutOrStdout()
			if asJSON {
				e := json.NewEncoder(w)
				e.SetIndent("", "  ")
				return e.Encode(out)
			}
			fmt.Fprintf(w, "Image:       %s\n", out.File)
			fmt.Fprintf(w, "Entrypoint:  %q\n", man.Entrypoint)
			fmt.Fprintf(w, "Args:        %q\n", man.Args)
			if len(man.Env) > 0 {
				fmt.Fprintf(w, "Env:         %q\n", man.Env)
			}
			if man.WorkDir != "" {
				fmt.Fprintf(w, "WorkDir:     %s\n", man.WorkDir)
			}
			fmt.Fprintf(w, "Memory:      %d MiB\n", man.MemoryMiB)
			fmt.Fprintf(w, "vCPUs:       %d\n", man.VCPUs)
			if man.Cmdline != "" {
				fmt.Fprintf(w, "Cmdline:     %s\n", man.Cmdline)
			}
			fmt.Fprintf(w, "Built by:    smolvm %s\n", man.SmolvmVersion)
			fmt.Fprintf(w, "Runtime:     %d bytes\n", out.RuntimeSize)
			if _, ok := img.Part(image.RootFSPart); ok {
				fmt.Fprintf(w, "Root:        EROFS on /dev/vda, read-only, under a tmpfs overlay\n")
			} else {
				fmt.Fprintf(w, "Root:        initramfs\n")
			}
			if verify {
				fmt.Fprintf(w, "Verified:    every part and the runtime match their SHA-256\n")
			}
			fmt.Fprintln(w)
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PART\tSTORED\tSIZE\tENCODING\tSHA-256")
			for _, p := range out.Parts {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", p.Name, p.Size, p.RawSize, p.Encoding, p.SHA256)
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().BoolVar(&verify, "verify", false, "also check every digest, the runtime's included")
	return c
}
