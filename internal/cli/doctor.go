package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/smolvm/smolvm/internal/kvm"
	"github.com/smolvm/smolvm/internal/vmm"
)

func doctorCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Check that this host can run smolvm images and say what was found",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			sys, err := kvm.Open()
			if err != nil {
				fmt.Fprintf(w, "KVM:          no\n")
				return err
			}
			fmt.Fprintf(w, "KVM:          %s, API version %d\n", kvm.DevicePath, kvm.APIVersion)
			for _, c := range []struct {
				name string
				cap  int
			}{
				{"irqchip", kvm.CapIRQChip}, {"irqfd", kvm.CapIRQFD}, {"ioeventfd", kvm.CapIOEventFD},
				{"immediate exit", kvm.CapImmediateExit}, {"vCPUs (recommended)", kvm.CapNrVCPUs}, {"vCPUs (max)", kvm.CapMaxVCPUs},
			} {
				fmt.Fprintf(w, "  %-20s %d\n", c.name+":", sys.CheckExtension(c.cap))
			}
			sys.Close()
			p, err := vmm.ProbeHost()
			if err != nil {
				return fmt.Errorf("emulation probe: %w", err)
			}
			fmt.Fprintf(w, "Probe:        %v\n", p)
			if p.Emulated {
				fmt.Fprintf(w, "              guest kernels boot slowly here (every kernel instruction is emulated);\n")
				fmt.Fprintf(w, "              smolvm adds: %s\n", vmm.CompatCmdline)
			}
			for _, a := range []struct{ name, env, file string }{
				{"Kernel", "SMOLVM_KERNEL", "vmlinux"},
				{"smol-init", "SMOLVM_INIT", "smol-init"},
				{"Runtime", "SMOLVM_RUNTIME", "smolvm-runtime"},
			} {
				p, err := assetPath("", a.env, a.file, "not found (needed by 'smolvm build'; run 'make build')")
				if err != nil {
					p = err.Error()
				}
				fmt.Fprintf(w, "%-13s %s\n", a.name+":", p)
			}
			return nil
		},
	}
}
