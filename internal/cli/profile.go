package cli

import (
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/smolvm/smolvm/internal/ksyms"
	"github.com/smolvm/smolvm/internal/launch"
	"github.com/smolvm/smolvm/internal/runner"
	"github.com/smolvm/smolvm/internal/vmm"
)

func profileCmd(status *int) *cobra.Command {
	var (
		interval  time.Duration
		systemMap string
		top       int
		bucket    time.Duration
		from, to  time.Duration
	)
	c := &cobra.Command{
		Use:   "profile [flags] IMAGE [ARGS...]",
		Short: "Boot an image while sampling the guest's instruction pointer",
		Long: `Boot an image as 'smolvm run' does and sample vCPU 0's instruction
pointer every --interval, then print the most sampled kernel functions
and, per --bucket of boot time, the function seen most in it. Addresses
are named through the guest kernel's System.map (by default the one
beside the smolvm executable, which 'make kernel' puts there).

On hosts that emulate guest kernel code (see 'smolvm doctor') a sample
is a fair picture of where the guest kernel spends its boot; on other
hosts a boot is over before many samples are taken.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			mapPath, err := assetPath(systemMap, "SMOLVM_SYSTEM_MAP", "System.map", "no System.map beside smolvm: pass --system-map (scripts/build-kernel.sh keeps one next to the cached vmlinux)")
			if err != nil {
				return err
			}
			f, err := os.Open(mapPath)
			if err != nil {
				return err
			}
			syms, err := ksyms.Parse(f)
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", mapPath, err)
			}
			o, closeFn, err := runner.RunOptions(cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer closeFn()
			o.Args = args[1:]
			o.Profile = &vmm.Profile{Interval: interval}
			st, err := launch.Run(args[0], o)
			if err != nil {
				return err
			}
			*status = st
			o.Profile.Times = window(o.Profile.Times, from, to)
			report(cmd.ErrOrStderr(), o.Profile, syms, top, bucket)
			return nil
		},
	}
	c.Flags().SetInterspersed(false) // flags after IMAGE are the program's
	c.Flags().DurationVar(&interval, "interval", 10*time.Millisecond, "sampling interval")
	c.Flags().StringVar(&systemMap, "system-map", "", "the guest kernel's System.map")
	c.Flags().IntVar(&top, "top", 25, "how many functions to list")
	c.Flags().DurationVar(&bucket, "bucket", time.Second, "timeline resolution (0: no timeline)")
	c.Flags().DurationVar(&from, "from", 0, "report only samples taken this long after the first KVM_RUN or later")
	c.Flags().DurationVar(&to, "to", 0, "report only samples taken before this (0: until the end)")
	return c
}

// window keeps the samples taken in [from, to) after the first KVM_RUN
// (to = 0: no upper bound), to look at one phase of a boot.
func window(s []vmm.Sample, from, to time.Duration) []vmm.Sample {
	var out []vmm.Sample
	for _, x := range s {
		if x.At >= from && (to == 0 || x.At < to) {
			out = append(out, x)
		}
	}
	return out
}

// report writes the profile: functions by share of samples, then a
// timeline of the dominant function per bucket. Output goes to stderr so
// the program's stdout stays its own.
func report(w io.Writer, p *vmm.Profile, syms *ksyms.Table, top int, bucket time.Duration) {
	total := len(p.Times)
	fmt.Fprintf(w, "\nprofile: %d samples every %v\n", total, p.Interval)
	if total == 0 {
		return
	}
	byName := map[string]int{}
	for _, s := range p.Times {
		byName[syms.Lookup(s.RIP)]++
	}
	for i, n := range sortedNames(byName) {
		if i == top {
			break
		}
		fmt.Fprintf(w, "  %5.1f%%  %6d  %s\n", 100*float64(byName[n])/float64(total), byName[n], n)
	}
	if bucket <= 0 {
		return
	}
	fmt.Fprintf(w, "\ntimeline (most sampled function per %v):\n", bucket)
	for start := 0; start < total; {
		b := p.Times[start].At / bucket
		counts := map[string]int{}
		end := start
		for end < total && p.Times[end].At/bucket == b {
			counts[syms.Lookup(p.Times[end].RIP)]++
			end++
		}
		names := sortedNames(counts)
		line := fmt.Sprintf("  %7.1fs  %3d%% %s", (time.Duration(b) * bucket).Seconds(), 100*counts[names[0]]/(end-start), names[0])
		if len(names) > 1 {
			line += fmt.Sprintf(", %d%% %s", 100*counts[names[1]]/(end-start), names[1])
		}
		fmt.Fprintln(w, line)
		start = end
	}
}

// sortedNames orders names by count, most first, then by name.
func sortedNames(counts map[string]int) []string {
	names := make([]string, 0, len(counts))
	for n := range counts {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if counts[names[i]] != counts[names[j]] {
			return counts[names[i]] > counts[names[j]]
		}
		return names[i] < names[j]
	})
	return names
}
