package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/krystalstack/gamesa/node"
	"github.com/krystalstack/gamesa/optimizer/neural/anomaly"
	"github.com/krystalstack/gamesa/optimizer/neural/thermal"
	"github.com/krystalstack/gamesa/optimizer/neural/workload"
	"github.com/krystalstack/gamesa/telemetry/ohm"
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
	th := &cobra.Command{Use: "thermal", Short: "The thermal predictor (LSTM) on OpenHardwareMonitor logs"}
	th.AddCommand(newThermalTrainCmd(), newThermalEvalCmd())
	an := &cobra.Command{Use: "anomaly", Short: "The anomaly detector (autoencoder)"}
	an.AddCommand(newAnomalyEvalCmd())
	cmd.AddCommand(classify, th, an)
	return cmd
}

func newAnomalyEvalCmd() *cobra.Command {
	var (
		modelPath string
		rounds    int
		seed      uint64
	)
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Recall per injected fault, precision and false-positive rate on simulated streams",
		Long: `Evaluate the anomaly detector on held-out simulated streams with injected faults:
a stuck temperature sensor, a fan failure (temperature climbing at constant load),
and a runaway process; plus clean streams for the false-positive rate.
With --model, evaluate that file (e.g. <data_dir>/models/anomaly.model); without,
train one offline on normal simulated operation first (a few seconds).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if rounds < 1 || rounds > 20 {
				return usageError{fmt.Errorf("--rounds must be between 1 and 20; got %d", rounds)}
			}
			var m *anomaly.Model
			var err error
			if modelPath != "" {
				data, rerr := os.ReadFile(modelPath)
				if rerr != nil {
					return rerr
				}
				m, err = anomaly.Load(data, anomaly.DefaultConfig())
			} else {
				m, err = node.TrainAnomaly(cmd.Context(), seed)
			}
			if err != nil {
				return err
			}
			streams, err := node.AnomalyStreams(cmd.Context(), 7000, rounds)
			if err != nil {
				return err
			}
			r, err := anomaly.Evaluate(m, streams)
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), r.String())
			return err
		},
	}
	cmd.Flags().StringVar(&modelPath, "model", "", "model file to evaluate (default: train one first)")
	cmd.Flags().IntVar(&rounds, "rounds", 3, "rounds of fault streams")
	cmd.Flags().Uint64Var(&seed, "seed", 7, "initial weights of a freshly trained model")
	return cmd
}

// readThermalLogs reads OpenHardwareMonitor CSV logs (files, gzipped or
// not, or directories of them) into one series per file. Logs from another
// machine than the first are refused by ohm's sensor check and listed.
func readThermalLogs(paths []string) ([]thermal.Series, error) {
	cfg := ohm.DefaultConfig()
	var logs []*ohm.Log
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, usageError{fmt.Errorf("--data: %w", err)}
		}
		if st.IsDir() {
			ls, excluded, err := ohm.ReadDir(p, cfg)
			if err != nil {
				return nil, err
			}
			for _, e := range excluded {
				fmt.Fprintf(os.Stderr, "skipping %s: not the same kind of machine (no %s sensors)\n", e, cfg.RequireSensor)
			}
			logs = append(logs, ls...)
			continue
		}
		l, err := ohm.ReadFile(p, cfg)
		if err != nil {
			return nil, err
		}
		logs = append(logs, l)
	}
	if len(logs) == 0 {
		return nil, usageError{fmt.Errorf("--data: no logs found in %v", paths)}
	}
	series := make([]thermal.Series, 0, len(logs))
	for _, l := range logs {
		s := thermal.Series{Name: l.Name}
		for _, seg := range l.Segments {
			for i := range seg.Time {
				s.Points = append(s.Points, thermal.Point{
					Time: seg.Time[i], PackageC: seg.PackageC[i], LoadPercent: seg.LoadPercent[i],
					ClockMHz: seg.ClockMHz[i], PowerW: seg.PackageW[i],
				})
			}
		}
		series = append(series, s)
	}
	return series, nil
}

func newThermalTrainCmd() *cobra.Command {
	var (
		data []string
		out  string
		seed uint64
	)
	cmd := &cobra.Command{
		Use:     "train",
		Short:   "Train the thermal predictor on recorded logs and write a model file",
		Example: "  gamesa ml thermal train --data ../shared/data/thermal/gl553vd-2020-04-06.csv.gz --out thermal.model",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(data) == 0 || out == "" {
				return usageError{fmt.Errorf("--data and --out are required")}
			}
			series, err := readThermalLogs(data)
			if err != nil {
				return err
			}
			cfg := thermal.DefaultConfig()
			cfg.Seed = seed
			start := time.Now()
			m, report, err := thermal.Train(series, cfg)
			if err != nil {
				return err
			}
			b, err := m.MarshalBinary()
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, b, 0o644); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "trained on %d series in %v; in-sample errors (°C):\n%s", len(series), time.Since(start).Round(time.Millisecond), report)
			fmt.Fprintf(w, "wrote %s (%d bytes)\n", out, len(b))
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&data, "data", nil, "OHM CSV logs (.csv or .csv.gz) or directories of them")
	cmd.Flags().StringVar(&out, "out", "", "model file to write")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed for initial weights and sampling")
	return cmd
}

func newThermalEvalCmd() *cobra.Command {
	var (
		data      []string
		modelPath string
		forget    float64
	)
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "MAE and RMSE per horizon against persistence and a linear AR baseline",
		Long: `Evaluate a thermal model on recorded logs (use days it was not trained on):
MAE and RMSE at 5, 10 and 30 s for the model, persistence and the linear
autoregressive baseline, on the raw target and on a 5-sample smoothed one.`,
		Example: "  gamesa ml thermal eval --model thermal.model --data ../shared/data/thermal/gl553vd-2020-04-28.csv.gz",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(data) == 0 || modelPath == "" {
				return usageError{fmt.Errorf("--data and --model are required")}
			}
			if forget != 0 && (forget < 0.9 || forget >= 1) {
				return usageError{fmt.Errorf("--adapt must be 0 (off) or in [0.9, 1); got %v", forget)}
			}
			b, err := os.ReadFile(modelPath)
			if err != nil {
				return err
			}
			tc := thermal.DefaultConfig()
			tc.Forget = forget
			m, err := thermal.Load(b, tc)
			if err != nil {
				return err
			}
			series, err := readThermalLogs(data)
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), thermal.Evaluate(m, series).String())
			return err
		},
	}
	cmd.Flags().StringSliceVar(&data, "data", nil, "OHM CSV logs (.csv or .csv.gz) or directories of them")
	cmd.Flags().StringVar(&modelPath, "model", "", "model file from 'gamesa ml thermal train'")
	cmd.Flags().Float64Var(&forget, "adapt", 0, "also score the model adapting its linear part online (RLS) with this forgetting factor, e.g. 0.9999 (0 = off)")
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
