package main

import (
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/krystalstack/gamesa/gossip"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// clusterCall dials the node, runs call with a bounded context, and closes.
func clusterCall(cmd *cobra.Command, cf *clientFlags, call func(c *client, cmd *cobra.Command) error) error {
	c, err := cf.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	return call(c, cmd)
}

// showState asks for the cluster state and prints it with write, or as
// JSON.
func showState(cmd *cobra.Command, cf *clientFlags, stale bool, write func(io.Writer, *gamesav1.GetClusterStateResponse)) error {
	return clusterCall(cmd, cf, func(c *client, cmd *cobra.Command) error {
		ctx, cancel := cf.callCtx(cmd.Context())
		defer cancel()
		st, err := c.cluster.GetClusterState(ctx, &gamesav1.GetClusterStateRequest{Stale: stale})
		if err != nil {
			return fmt.Errorf("GetClusterState from %s: %w", cf.addr, err)
		}
		if cf.output == "json" {
			return printJSON(cmd.OutOrStdout(), st)
		}
		write(cmd.OutOrStdout(), st)
		return nil
	})
}

func newMembersCmd(cf *clientFlags) *cobra.Command {
	var stale bool
	cmd := &cobra.Command{
		Use:   "members",
		Short: "List the cluster's members as the node sees them",
		Long: `List every member the node knows through gossip: role, state, addresses, and
its latest telemetry digest. By default the answer comes from the Raft leader
(through the node); --stale answers from the node alone, which also works when
the cluster has no leader.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return showState(cmd, cf, stale, writeMembers)
		},
	}
	cmd.Flags().BoolVar(&stale, "stale", false, "answer from the node's own view, without asking the leader")
	cf.register(cmd)
	return cmd
}

func writeMembers(w io.Writer, st *gamesav1.GetClusterStateResponse) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tROLE\tSTATE\tGOSSIP\tGRPC\tCPU\tTEMP\tPOWER\tHEADROOM\tAGE")
	for _, m := range st.GetMembers() {
		role := m.GetInfo().GetRole()
		if m.GetInfo().GetNodeId() == st.GetLeaderId() {
			role += " (leader)"
		}
		d := m.GetDigest()
		age := "-"
		if m.GetDigestAge() != nil {
			age = m.GetDigestAge().AsDuration().Round(100 * time.Millisecond).String()
			if m.GetStale() {
				age += " stale"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.0f%%\t%.1f°C\t%.1f W\t%.1f°C\t%s\n",
			m.GetInfo().GetNodeId(), role, memberStateWord(m.GetState()), m.GetGossipAddress(), m.GetInfo().GetGrpcAddress(),
			d.GetCpuUtilizationPercent(), d.GetMaxTemperatureCelsius(), d.GetPowerWatts(), d.GetThermalHeadroomCelsius(), age)
	}
	_ = tw.Flush() // a terminal write error has nowhere better to go
}

func memberStateWord(s gamesav1.MemberState) string {
	switch s {
	case gamesav1.MemberState_MEMBER_STATE_ALIVE:
		return "alive"
	case gamesav1.MemberState_MEMBER_STATE_SUSPECT:
		return "suspect"
	case gamesav1.MemberState_MEMBER_STATE_DEAD:
		return "failed"
	case gamesav1.MemberState_MEMBER_STATE_LEFT:
		return "left"
	}
	return "unknown"
}

func newClusterCmd(cf *clientFlags) *cobra.Command {
	var stale bool
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Show the cluster: leader, Raft servers and replicated settings",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return showState(cmd, cf, stale, writeCluster)
		},
	}
	cmd.Flags().BoolVar(&stale, "stale", false, "answer from the node's own replica, without asking the leader")
	cf.register(cmd)
	cmd.AddCommand(newSettingSetCmd(), newSettingDeleteCmd(), newTransferCmd())
	return cmd
}

func writeCluster(w io.Writer, st *gamesav1.GetClusterStateResponse) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	read := "consistent (leader-verified)"
	if !st.GetConsistent() {
		read = "stale (local replica)"
	}
	fmt.Fprintf(tw, "leader\t%s\n", orNone(st.GetLeaderId()))
	fmt.Fprintf(tw, "raft\tterm %d  commit %d  applied %d  served by %s, %s\n", st.GetTerm(), st.GetCommitIndex(), st.GetAppliedIndex(), st.GetServedBy(), read)
	for _, s := range st.GetRaftServers() {
		kind := "voter"
		if !s.GetVoter() {
			kind = "non-voter"
		}
		if s.GetLeader() {
			kind += ", leader"
		}
		fmt.Fprintf(tw, "server\t%s  %s  (%s)\n", s.GetId(), s.GetAddress(), kind)
	}
	fmt.Fprintf(tw, "members\t%d\n", len(st.GetMembers()))
	for _, s := range st.GetSettings() {
		fmt.Fprintf(tw, "setting\t%s = %q  (version %d)\n", s.GetKey(), s.GetValue(), s.GetVersion())
	}
	_ = tw.Flush() // a terminal write error has nowhere better to go
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// The setting commands share the parent's client flags through cobra's
// persistent lookup: they are registered on each one.
func newSettingSetCmd() *cobra.Command {
	cf := &clientFlags{}
	var expect uint64
	var requestID string
	cmd := &cobra.Command{
		Use:   "set KEY VALUE",
		Short: "Write a replicated cluster setting (through the leader)",
		Example: `  gamesa cluster set power/budget_watts 3500
  gamesa cluster set power/budget_watts 3000 --expect-version 12   # compare-and-set`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return clusterCall(cmd, cf, func(c *client, cmd *cobra.Command) error {
				ctx, cancel := cf.callCtx(cmd.Context())
				defer cancel()
				res, err := c.cluster.SetSetting(ctx, &gamesav1.SetSettingRequest{
					Key: args[0], Value: args[1], ExpectedVersion: expect, RequestId: requestID,
				})
				if err != nil {
					return fmt.Errorf("SetSetting via %s: %w", cf.addr, err)
				}
				if cf.output == "json" {
					return printJSON(cmd.OutOrStdout(), res)
				}
				dup := ""
				if res.GetDuplicate() {
					dup = " (already applied: this is the first attempt's result)"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s = %q  version %d%s\n", res.GetSetting().GetKey(), res.GetSetting().GetValue(), res.GetSetting().GetVersion(), dup)
				return nil
			})
		},
	}
	cmd.Flags().Uint64Var(&expect, "expect-version", 0, "write only if the setting's version is still this (0: unconditional)")
	cmd.Flags().StringVar(&requestID, "request-id", "", "reuse an earlier attempt's id to retry it safely (applied once)")
	cf.register(cmd)
	return cmd
}

func newSettingDeleteCmd() *cobra.Command {
	cf := &clientFlags{}
	var expect uint64
	cmd := &cobra.Command{
		Use:   "rm KEY",
		Short: "Delete a replicated cluster setting",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return clusterCall(cmd, cf, func(c *client, cmd *cobra.Command) error {
				ctx, cancel := cf.callCtx(cmd.Context())
				defer cancel()
				res, err := c.cluster.DeleteSetting(ctx, &gamesav1.DeleteSettingRequest{Key: args[0], ExpectedVersion: expect})
				if err != nil {
					return fmt.Errorf("DeleteSetting via %s: %w", cf.addr, err)
				}
				if cf.output == "json" {
					return printJSON(cmd.OutOrStdout(), res)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted %s at index %d\n", args[0], res.GetIndex())
				return nil
			})
		},
	}
	cmd.Flags().Uint64Var(&expect, "expect-version", 0, "delete only if the setting's version is still this")
	cf.register(cmd)
	return cmd
}

func newTransferCmd() *cobra.Command {
	cf := &clientFlags{}
	var to string
	cmd := &cobra.Command{
		Use:   "transfer-leadership",
		Short: "Ask the leader to hand over to another server (admin)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return clusterCall(cmd, cf, func(c *client, cmd *cobra.Command) error {
				ctx, cancel := cf.callCtx(cmd.Context())
				defer cancel()
				res, err := c.cluster.TransferLeadership(ctx, &gamesav1.TransferLeadershipRequest{TargetId: to})
				if err != nil {
					return fmt.Errorf("TransferLeadership via %s: %w", cf.addr, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "leader: %s\n", orNone(res.GetLeaderId()))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the server to hand over to (default: the most up-to-date)")
	cf.register(cmd)
	return cmd
}

func newJoinCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "join GOSSIP_ADDR...",
		Short:   "Ask the node to join the members at these gossip addresses",
		Example: `  gamesa join 192.0.2.10:7946 --addr 127.0.0.1:7070`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return clusterCall(cmd, cf, func(c *client, cmd *cobra.Command) error {
				ctx, cancel := cf.callCtx(cmd.Context())
				defer cancel()
				res, err := c.cluster.Join(ctx, &gamesav1.JoinRequest{Addresses: args})
				if err != nil {
					return fmt.Errorf("join via %s: %w", cf.addr, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "joined: %d of %d addresses answered\n", res.GetJoined(), len(args))
				return nil
			})
		},
	}
	cf.register(cmd)
	return cmd
}

func newLeaveCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "leave",
		Short: "Make the node leave the cluster gracefully and stop",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return clusterCall(cmd, cf, func(c *client, cmd *cobra.Command) error {
				ctx, cancel := cf.callCtx(cmd.Context())
				defer cancel()
				if _, err := c.cluster.Leave(ctx, &gamesav1.LeaveRequest{}); err != nil {
					return fmt.Errorf("leave via %s: %w", cf.addr, err)
				}
				fmt.Fprintln(cmd.OutOrStdout(), "leaving: the node announces its departure and stops")
				return nil
			})
		},
	}
	cf.register(cmd)
	return cmd
}

func newKeygenCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Make a gossip encryption key (AES-256, base64)",
		Long: `Print a new random gossip encryption key, or write it to --out (mode 0600).
Every member needs the same key (cluster.encrypt_key_file); a node with another
key cannot join.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := gossip.GenerateKey()
			if err != nil {
				return err
			}
			enc := gossip.EncodeKey(k)
			if out == "" {
				fmt.Fprintln(cmd.OutOrStdout(), enc)
				return nil
			}
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fmt.Errorf("--out: %w", err)
			}
			if _, err := fmt.Fprintln(f, enc); err != nil {
				f.Close()
				return fmt.Errorf("--out: %w", err)
			}
			if err := f.Close(); err != nil {
				return fmt.Errorf("--out: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", out)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "write the key to this new file (0600) instead of printing it")
	return cmd
}
