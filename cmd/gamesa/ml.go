package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/krystalstack/gamesa/node"
	"github.com/krystalstack/gamesa/optimizer/neural/workload"
)

// newMLCmd groups the commands that train and evaluate the on-device models
// offline, on recorded or simulated data. They need no running node.
func newMLCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ml",
		Short: "Train and evaluate the on-device models on recorded or simulated data",
	}
	classify := &cobra.Command{Use: "classify", Short: "The workload classifier (CNN1D)"}
	classify.AddCommand(newClassifyEvalCmd())
	cmd.AddCommand(classify)
	return cmd
}

func newClassifyEvalCmd() *cobra.Command {
	var (
		modelPath string
		seconds   int
		seed      uint64
	)
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Accuracy and confusion matrix on held-out simulated machines",
		Long: `Evaluate the workload classifier on labelled windows recorded from simulated
machines that training never saw (other seeds, 6 and 12 cores, one without a GPU).
With --model, evaluate that model file (e.g. <data_dir>/models/workload.model);
without, train a fresh one the way a new node does and evaluate it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if seconds < workload.Window+5 {
				return usageError{fmt.Errorf("--seconds must be at least %d; got %d", workload.Window+5, seconds)}
			}
			var m *workload.Model
			if modelPath != "" {
				data, err := os.ReadFile(modelPath)
				if err != nil {
					return err
				}
				if m, err = workload.Load(data, workload.DefaultConfig()); err != nil {
					return err
				}
			} else {
				var err error
				if m, err = node.BootstrapWorkload(cmd.Context(), seed); err != nil {
					return err
				}
			}
			ws, err := node.WorkloadWindows(cmd.Context(), node.WorkloadEvalMachines, seconds)
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), workload.Evaluate(m, ws).String())
			return err
		},
	}
	cmd.Flags().StringVar(&modelPath, "model", "", "model file to evaluate (default: train a fresh one)")
	cmd.Flags().IntVar(&seconds, "seconds", 330, "simulated seconds per machine and scenario")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "initial weights of a freshly trained model")
	return cmd
}
