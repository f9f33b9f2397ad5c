package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/krystalstack/gamesa/node"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

func newJobCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "job",
		Short: "Run jobs on the cluster: the leader places them on nodes started with --enable-jobs",
		Long: `Jobs are programs the cluster runs on its nodes: the leader places each on a
node with room (cores, memory, GPUs, labels), preferring thermal and power
headroom, and moves it (restarting it) when its node fails or runs hot. A
job runs on one node at a time. Submitting and stopping need an admin token.`,
	}
	cmd.AddCommand(newJobRunCmd(), newJobListCmd(), newJobStatusCmd(), newJobStopCmd(), newJobLogsCmd())
	return cmd
}

func newJobRunCmd() *cobra.Command {
	cf := &clientFlags{}
	var (
		name, checkpoint string
		cores, gpus      uint32
		mem              node.ByteSize
		constraints      map[string]string
	)
	cmd := &cobra.Command{
		Use:   "run --name NAME [--cpu N] [--mem SIZE] [--gpu [N]] [--constraint KEY=VALUE]... -- COMMAND [ARG...]",
		Short: "Submit a job (admin)",
		Example: `  gamesa job run --name render-1 --cpu 2 --mem 2GiB -- blender -b scene.blend -a
  gamesa job run --name train --gpu --constraint gpu=rtx4090 -- python train.py
  gamesa job run --name sim-7 --checkpoint 'kill -USR1 $(cat sim.pid)' -- ./sim --resume`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{errors.New("give the command to run after --, e.g. gamesa job run --name x -- sleep 60")}
			}
			if name == "" {
				return usageError{errors.New("--name is required")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			spec := &gamesav1.JobSpec{Id: name, Cores: cores, MemoryBytes: uint64(mem), Gpus: gpus, Command: args}
			for _, k := range slices.Sorted(maps.Keys(constraints)) {
				spec.Constraints = append(spec.Constraints, &gamesav1.Label{Key: k, Value: constraints[k]})
			}
			if checkpoint != "" {
				spec.CheckpointCommand = []string{"sh", "-c", checkpoint}
			}
			return clusterCall(cmd, cf, func(c *client, cmd *cobra.Command) error {
				ctx, cancel := cf.callCtx(cmd.Context())
				defer cancel()
				res, err := allocClient(c).SubmitJob(ctx, &gamesav1.SubmitJobRequest{Spec: spec})
				if err != nil {
					return fmt.Errorf("SubmitJob via %s: %w", cf.addr, err)
				}
				if cf.output == "json" {
					return printJSON(cmd.OutOrStdout(), res)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "job %s submitted: %s (%s)\n", name, jobStateWord(res.GetJob().GetState()), res.GetJob().GetReason())
				return nil
			})
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&name, "name", "", "the job's name: lower case letters, digits, '.', '_', '-' (required)")
	fs.Uint32Var(&cores, "cpu", 1, "cores to reserve")
	fs.Var(&mem, "mem", "memory to reserve (e.g. 512MiB, 2GiB)")
	fs.Uint32Var(&gpus, "gpu", 0, "GPUs to reserve (--gpu alone: 1)")
	fs.Lookup("gpu").NoOptDefVal = "1"
	fs.StringToStringVar(&constraints, "constraint", nil, "a node label the job needs, KEY=VALUE (repeatable)")
	fs.StringVar(&checkpoint, "checkpoint", "", "shell command run on the old node before the job moves (not after a failure)")
	cf.register(cmd)
	return cmd
}

func allocClient(c *client) gamesav1.AllocationServiceClient {
	return gamesav1.NewAllocationServiceClient(c.conn)
}

func jobStateWord(s gamesav1.JobState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "JOB_STATE_"))
}

func runStateWord(s gamesav1.RunState) string {
	if s == gamesav1.RunState_RUN_STATE_UNSPECIFIED {
		return "placed"
	}
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(s.String(), "RUN_STATE_")), "_", " ")
}

func newJobListCmd() *cobra.Command {
	cf := &clientFlags{}
	var stale bool
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the jobs, active and recently ended",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return clusterCall(cmd, cf, func(c *client, cmd *cobra.Command) error {
				ctx, cancel := cf.callCtx(cmd.Context())
				defer cancel()
				res, err := allocClient(c).ListJobs(ctx, &gamesav1.ListJobsRequest{Stale: stale})
				if err != nil {
					return fmt.Errorf("ListJobs via %s: %w", cf.addr, err)
				}
				if cf.output == "json" {
					return printJSON(cmd.OutOrStdout(), res)
				}
				writeJobs(cmd.OutOrStdout(), res.GetJobs())
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&stale, "stale", false, "answer from a replica without asking the leader")
	cf.register(cmd)
	return cmd
}

func writeJobs(w io.Writer, jobs []*gamesav1.Job) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tNODE\tRUN\tCPU\tMEM\tGPU\tREASON")
	for _, j := range jobs {
		s := j.GetSpec()
		where, run := "-", "-"
		if c := j.GetCurrent(); c != nil {
			where, run = c.GetNodeId(), fmt.Sprint(c.GetRunId())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%d\t%s\n", s.GetId(), jobStateWord(j.GetState()), where, run,
			s.GetCores(), node.ByteSize(s.GetMemoryBytes()), s.GetGpus(), j.GetReason())
	}
	_ = tw.Flush() // a terminal write error has nowhere better to go
}

func newJobStatusCmd() *cobra.Command {
	cf := &clientFlags{}
	var stale bool
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Show one job: its spec, state, runs and why",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return clusterCall(cmd, cf, func(c *client, cmd *cobra.Command) error {
				ctx, cancel := cf.callCtx(cmd.Context())
				defer cancel()
				res, err := allocClient(c).GetJob(ctx, &gamesav1.GetJobRequest{JobId: args[0], Stale: stale})
				if err != nil {
					return fmt.Errorf("GetJob via %s: %w", cf.addr, err)
				}
				if cf.output == "json" {
					return printJSON(cmd.OutOrStdout(), res)
				}
				writeJob(cmd.OutOrStdout(), res.GetJob())
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&stale, "stale", false, "answer from a replica without asking the leader")
	cf.register(cmd)
	return cmd
}

func writeJob(w io.Writer, j *gamesav1.Job) {
	s := j.GetSpec()
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "name\t%s\n", s.GetId())
	state := jobStateWord(j.GetState())
	if j.GetStopRequested() && !strings.HasPrefix(state, "stop") {
		state += " (stop requested)"
	}
	fmt.Fprintf(tw, "state\t%s\n", state)
	fmt.Fprintf(tw, "reason\t%s\n", j.GetReason())
	fmt.Fprintf(tw, "command\t%s\n", strings.Join(s.GetCommand(), " "))
	if cp := s.GetCheckpointCommand(); len(cp) > 0 {
		fmt.Fprintf(tw, "checkpoint\t%s\n", strings.Join(cp, " "))
	}
	fmt.Fprintf(tw, "needs\t%d cores, %s memory, %d GPUs", s.GetCores(), node.ByteSize(s.GetMemoryBytes()), s.GetGpus())
	for _, l := range s.GetConstraints() {
		fmt.Fprintf(tw, ", %s=%s", l.GetKey(), l.GetValue())
	}
	fmt.Fprintln(tw)
	run := func(label string, r *gamesav1.JobRun) {
		if r == nil {
			return
		}
		line := fmt.Sprintf("run %d on %s: %s", r.GetRunId(), r.GetNodeId(), runStateWord(r.GetState()))
		if r.GetPid() != 0 {
			line += fmt.Sprintf(", pid %d", r.GetPid())
		}
		if r.GetState() == gamesav1.RunState_RUN_STATE_EXITED {
			line += fmt.Sprintf(", exit status %d", r.GetExitCode())
		}
		if r.GetReason() != "" {
			line += " (" + r.GetReason() + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, line)
	}
	run("current", j.GetCurrent())
	run("draining", j.GetDraining())
	for i := len(j.GetHistory()) - 1; i >= 0; i-- {
		run("ended", j.GetHistory()[i])
	}
	fmt.Fprintf(tw, "runs\t%d placed\n", j.GetRuns())
	_ = tw.Flush() // a terminal write error has nowhere better to go
}

func newJobStopCmd() *cobra.Command {
	cf := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "stop NAME",
		Short: "Stop a job (admin): its process gets SIGTERM, then SIGKILL",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return clusterCall(cmd, cf, func(c *client, cmd *cobra.Command) error {
				ctx, cancel := cf.callCtx(cmd.Context())
				defer cancel()
				res, err := allocClient(c).StopJob(ctx, &gamesav1.StopJobRequest{JobId: args[0]})
				if err != nil {
					return fmt.Errorf("StopJob via %s: %w", cf.addr, err)
				}
				if cf.output == "json" {
					return printJSON(cmd.OutOrStdout(), res)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "job %s: %s (%s)\n", args[0], jobStateWord(res.GetJob().GetState()), res.GetJob().GetReason())
				return nil
			})
		},
	}
	cf.register(cmd)
	return cmd
}

func newJobLogsCmd() *cobra.Command {
	cf := &clientFlags{}
	var (
		follow bool
		run    uint64
	)
	cmd := &cobra.Command{
		Use:   "logs NAME",
		Short: "Print a job's output (stdout and stderr), from the node that ran it",
		Example: `  gamesa job logs render-1
  gamesa job logs render-1 -f          # follow while it runs
  gamesa job logs render-1 --run 1234  # an earlier run`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return clusterCall(cmd, cf, func(c *client, cmd *cobra.Command) error {
				ctx := cmd.Context()
				if !follow {
					var cancel func()
					ctx, cancel = cf.callCtx(ctx)
					defer cancel()
				}
				s, err := allocClient(c).JobLogs(ctx, &gamesav1.JobLogsRequest{JobId: args[0], RunId: run, Follow: follow})
				if err != nil {
					return fmt.Errorf("JobLogs via %s: %w", cf.addr, err)
				}
				for {
					m, err := s.Recv()
					if errors.Is(err, io.EOF) {
						return nil
					}
					if err != nil {
						return fmt.Errorf("JobLogs via %s: %w", cf.addr, err)
					}
					if _, err := cmd.OutOrStdout().Write(m.GetData()); err != nil {
						return err
					}
				}
			})
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing while the run goes on")
	cmd.Flags().Uint64Var(&run, "run", 0, "which run (default: the current one, else the latest)")
	cf.register(cmd)
	return cmd
}
