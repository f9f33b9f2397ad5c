package main

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/krystalstack/gamesa/node"
	"github.com/krystalstack/gamesa/optimizer/neural"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// maxModelDownload bounds a downloaded model file.
const maxModelDownload = 16 << 20

func newModelCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "model",
		Short: "The cluster's federated models: versions, rounds, and downloads",
		Long: `Nodes learn their thermal predictor from their own machine; in each federated
round the leader merges what they learned into a new global version, which
every node fetches (checking its hash) and keeps as it is or fine-tuned to its
own machine, whichever predicts its recent data better. Weights travel over
gRPC; only their metadata goes through Raft. Starting a round needs an admin
token; the rest a read token. ('gamesa ml' trains models offline.)`,
	}
	round := &cobra.Command{Use: "round", Short: "Federated rounds"}
	round.AddCommand(newModelRoundStartCmd())
	cmd.AddCommand(newModelListCmd(), newModelRoundsCmd(), round, newModelGetCmd())
	return cmd
}

func fedClient(c *client) gamesav1.FederatedServiceClient {
	return gamesav1.NewFederatedServiceClient(c.conn)
}

func newModelListCmd() *cobra.Command {
	cf := &clientFlags{}
	var (
		kind  string
		stale bool
	)
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the committed global model versions",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return clusterCall(cmd, cf, func(c *client, cmd *cobra.Command) error {
				ctx, cancel := cf.callCtx(cmd.Context())
				defer cancel()
				res, err := fedClient(c).ListModels(ctx, &gamesav1.ListModelsRequest{Kind: kind, Stale: stale})
				if err != nil {
					return fmt.Errorf("ListModels via %s: %w", cf.addr, err)
				}
				if cf.output == "json" {
					return printJSON(cmd.OutOrStdout(), res)
				}
				writeModels(cmd.OutOrStdout(), res.GetModels())
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&kind, "kind", "", "only this model kind (e.g. thermal)")
	cmd.Flags().BoolVar(&stale, "stale", false, "answer from a replica without asking the leader")
	cf.register(cmd)
	return cmd
}

func writeModels(w io.Writer, ms []*gamesav1.GlobalModel) {
	if len(ms) == 0 {
		fmt.Fprintln(w, "no global model yet: start a round with 'gamesa model round start'")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tVERSION\tHASH\tROUND\tSAMPLES\tSIZE\tHOLDER\tCREATED")
	for _, m := range ms {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%s\t%s\t%s\n", m.GetKind(), m.GetVersion(), shortHash(m.GetHash()),
			m.GetRound(), m.GetSamples(), node.ByteSize(m.GetSizeBytes()), m.GetHolder(), timeText(m.GetCreatedAt().AsTime()))
	}
	_ = tw.Flush() // a terminal write error has nowhere better to go
}

func shortHash(h []byte) string {
	if len(h) == 0 {
		return "-"
	}
	return hex.EncodeToString(h[:min(len(h), 6)])
}

func timeText(t time.Time) string {
	if t.Unix() <= 0 {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func newModelRoundsCmd() *cobra.Command {
	cf := &clientFlags{}
	var (
		limit uint32
		stale bool
	)
	cmd := &cobra.Command{
		Use:   "rounds",
		Short: "List the federated rounds, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return clusterCall(cmd, cf, func(c *client, cmd *cobra.Command) error {
				ctx, cancel := cf.callCtx(cmd.Context())
				defer cancel()
				res, err := fedClient(c).ListRounds(ctx, &gamesav1.ListRoundsRequest{Limit: limit, Stale: stale})
				if err != nil {
					return fmt.Errorf("ListRounds via %s: %w", cf.addr, err)
				}
				if cf.output == "json" {
					return printJSON(cmd.OutOrStdout(), res)
				}
				writeRounds(cmd.OutOrStdout(), res.GetRounds())
				return nil
			})
		},
	}
	cmd.Flags().Uint32Var(&limit, "limit", 20, "at most this many, the newest (0: all the cluster remembers)")
	cmd.Flags().BoolVar(&stale, "stale", false, "answer from a replica without asking the leader")
	cf.register(cmd)
	return cmd
}

func roundWord(s gamesav1.RoundState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "ROUND_STATE_"))
}

func writeRounds(w io.Writer, rs []*gamesav1.FederatedRound) {
	if len(rs) == 0 {
		fmt.Fprintln(w, "no round yet")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROUND\tKIND\tSTATE\tRULE\tVERSION\tNODES\tLEADER\tOPENED\tOUTCOME")
	for _, r := range rs {
		version := fmt.Sprintf("%d→", r.GetBaseVersion())
		nodes := fmt.Sprintf("-/%d", len(r.GetParticipants()))
		outcome := "until " + timeText(r.GetDeadline().AsTime())
		switch r.GetState() {
		case gamesav1.RoundState_ROUND_STATE_CLOSED:
			version += strconv.FormatUint(r.GetModelVersion(), 10)
			nodes = fmt.Sprintf("%d/%d", len(r.GetContributors()), len(r.GetParticipants()))
			outcome = fmt.Sprintf("%d samples from %s", r.GetSamples(), strings.Join(r.GetContributors(), ","))
		case gamesav1.RoundState_ROUND_STATE_ABORTED:
			outcome = r.GetReason()
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.GetRound(), r.GetKind(), roundWord(r.GetState()), r.GetRule(),
			version, nodes, r.GetLeaderId(), timeText(r.GetOpenedAt().AsTime()), outcome)
	}
	_ = tw.Flush() // as above
}

func newModelRoundStartCmd() *cobra.Command {
	cf := &clientFlags{}
	var kind, rule string
	cmd := &cobra.Command{
		Use:   "start [--kind thermal] [--rule fedavg|median|trimmed_mean|krum]",
		Short: "Open a federated round now (admin)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return clusterCall(cmd, cf, func(c *client, cmd *cobra.Command) error {
				ctx, cancel := cf.callCtx(cmd.Context())
				defer cancel()
				res, err := fedClient(c).StartRound(ctx, &gamesav1.StartRoundRequest{Kind: kind, Rule: rule})
				if err != nil {
					return fmt.Errorf("StartRound via %s: %w", cf.addr, err)
				}
				if cf.output == "json" {
					return printJSON(cmd.OutOrStdout(), res)
				}
				r := res.GetRound()
				fmt.Fprintf(cmd.OutOrStdout(), "round %d opened by %s: %s from version %d, rule %s, %d nodes invited, until %s\n",
					r.GetRound(), r.GetLeaderId(), r.GetKind(), r.GetBaseVersion(), r.GetRule(), len(r.GetParticipants()), timeText(r.GetDeadline().AsTime()))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&kind, "kind", "thermal", "the model kind to train")
	cmd.Flags().StringVar(&rule, "rule", "", "the merge rule: fedavg, median, trimmed_mean or krum (default: the leader's federated.rule)")
	cf.register(cmd)
	return cmd
}

func newModelGetCmd() *cobra.Command {
	cf := &clientFlags{}
	var kind, out string
	cmd := &cobra.Command{
		Use:   "get VERSION|latest|HASH --out FILE",
		Short: "Download a global model version and check its content hash",
		Example: `  gamesa model get latest --out thermal.model
  gamesa model get 3 --out thermal-v3.model`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{errors.New("name one version: a number, latest, or a hash")}
			}
			if out == "" {
				return usageError{errors.New("--out is required")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := modelRequest(kind, args[0])
			if err != nil {
				return usageError{err}
			}
			return clusterCall(cmd, cf, func(c *client, cmd *cobra.Command) error {
				ctx, cancel := cf.callCtx(cmd.Context())
				defer cancel()
				stream, err := fedClient(c).GetModel(ctx, req)
				if err != nil {
					return fmt.Errorf("GetModel via %s: %w", cf.addr, err)
				}
				meta, data, err := readModel(stream)
				if err != nil {
					return fmt.Errorf("GetModel via %s: %w", cf.addr, err)
				}
				if err := writeModelFile(out, meta, data); err != nil {
					return err
				}
				if cf.output == "json" {
					return printJSON(cmd.OutOrStdout(), meta)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s version %d (%s, %s) written to %s; its content hash checks out\n",
					meta.GetKind(), meta.GetVersion(), shortHash(meta.GetHash()), node.ByteSize(len(data)), out)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&kind, "kind", "thermal", "the model kind")
	cmd.Flags().StringVar(&out, "out", "", "the file to write (required)")
	cf.register(cmd)
	return cmd
}

// modelRequest parses VERSION|latest|HASH.
func modelRequest(kind, arg string) (*gamesav1.GetModelRequest, error) {
	req := &gamesav1.GetModelRequest{Kind: kind}
	switch {
	case arg == "latest":
	case len(arg) == 64:
		h, err := hex.DecodeString(arg)
		if err != nil {
			return nil, fmt.Errorf("%q is not a hash (64 hex digits): %w", arg, err)
		}
		req.Hash = h
	default:
		v, err := strconv.ParseUint(arg, 10, 64)
		if err != nil || v == 0 {
			return nil, fmt.Errorf("%q is not a version (1, 2, ...), latest, or a hash", arg)
		}
		req.Version = v
	}
	return req, nil
}

type modelStream interface {
	Recv() (*gamesav1.GetModelResponse, error)
}

// readModel reads a GetModel stream and checks the file against the
// metadata: the kind, and the content hash the cluster committed.
func readModel(s modelStream) (*gamesav1.GlobalModel, []byte, error) {
	var meta *gamesav1.GlobalModel
	var data []byte
	for {
		msg, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		if m := msg.GetModel(); m != nil {
			meta = m
		}
		if len(data)+len(msg.GetChunk()) > maxModelDownload {
			return nil, nil, fmt.Errorf("model file larger than %s", node.ByteSize(maxModelDownload))
		}
		data = append(data, msg.GetChunk()...)
	}
	if meta == nil {
		return nil, nil, errors.New("the node sent no metadata")
	}
	m, err := neural.Decode(data, meta.GetKind())
	if err != nil {
		return nil, nil, fmt.Errorf("the downloaded file: %w", err)
	}
	if !bytes.Equal(m.GetContentHash(), meta.GetHash()) {
		return nil, nil, fmt.Errorf("the downloaded file's hash %x is not the committed %x", m.GetContentHash(), meta.GetHash())
	}
	return meta, data, nil
}

// writeModelFile writes data to path through a temporary file, so a
// failed download never leaves half a model behind.
func writeModelFile(path string, meta *gamesav1.GlobalModel, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	defer os.Remove(tmp.Name()) // finds nothing after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("--out: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("--out: writing %s version %d: %w", meta.GetKind(), meta.GetVersion(), err)
	}
	return nil
}
