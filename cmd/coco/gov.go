package main

import (
	"context"
	"crypto/ecdh"
	"crypto/hpke"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cocoledger/coco/core/constitution"
	"github.com/cocoledger/coco/core/gov"
	"github.com/cocoledger/coco/core/govapi"
	"github.com/cocoledger/coco/core/node"
	"github.com/cocoledger/coco/core/shares"
	"github.com/cocoledger/coco/enclave/virtual"
	"github.com/spf13/cobra"
)

func keysCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Create member identities"}
	var out string
	newCmd := &cobra.Command{
		Use:   "new member --out NAME",
		Short: "Create a member identity: NAME.pem (certificate and encryption key, share it) and NAME.key (private, keep it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] != "member" {
				return fmt.Errorf("unknown key kind %q (want member)", args[0])
			}
			if out == "" {
				return errors.New("--out NAME is required")
			}
			pubPath, privPath := out+".pem", out+".key"
			for _, p := range []string{pubPath, privPath} {
				if _, err := os.Stat(p); err == nil {
					return fmt.Errorf("%s exists; not overwriting a key", p)
				}
			}
			k, err := gov.NewMemberKey(filepath.Base(out))
			if err != nil {
				return err
			}
			priv, err := k.PrivatePEM()
			if err != nil {
				return err
			}
			if err := os.WriteFile(privPath, priv, 0o600); err != nil {
				return err
			}
			if err := os.WriteFile(pubPath, k.PEM(), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "member %s\n  id      %s\n  public  %s (give it to the consortium)\n  private %s (keep it; it signs your proposals and votes)\n", k.Name(), k.ID(), pubPath, privPath)
			return nil
		},
	}
	newCmd.Flags().StringVar(&out, "out", "", "path prefix of the files to write")
	cmd.AddCommand(newCmd)
	return cmd
}

// govFlags are shared by the gov subcommands.
type govFlags struct {
	node    string
	as      string
	timeout time.Duration
}

func (f *govFlags) client() *govapi.Client { return &govapi.Client{URL: f.node} }

func (f *govFlags) key() (*gov.MemberKey, error) {
	if f.as == "" {
		return nil, errors.New("--as NAME is required: the member whose NAME.pem and NAME.key sign the request")
	}
	base := strings.TrimSuffix(strings.TrimSuffix(f.as, ".pem"), ".key")
	pub, err := os.ReadFile(base + ".pem")
	if err != nil {
		return nil, err
	}
	priv, err := os.ReadFile(base + ".key")
	if err != nil {
		return nil, err
	}
	return gov.ParseMemberKey(pub, priv)
}

func (f *govFlags) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), f.timeout)
}

func govCmd() *cobra.Command {
	f := &govFlags{}
	cmd := &cobra.Command{Use: "gov", Short: "Governance: propose, vote, withdraw, inspect"}
	p := cmd.PersistentFlags()
	p.StringVar(&f.node, "node", envOr("COCO_GOV_NODE", "http://127.0.0.1:8545"), "a node's HTTP endpoint (env COCO_GOV_NODE)")
	p.StringVar(&f.as, "as", os.Getenv("COCO_GOV_AS"), "member files NAME.pem/NAME.key that sign (env COCO_GOV_AS)")
	p.DurationVar(&f.timeout, "timeout", 30*time.Second, "how long to wait for the node")
	cmd.AddCommand(govProposeCmd(f), govVoteCmd(f), govWithdrawCmd(f), govListCmd(f), govShowCmd(f), govMembersCmd(f), govAuditCmd(), govRecoveryShareCmd(f))
	return cmd
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func govProposeCmd(f *govFlags) *cobra.Command {
	var actionsFile string
	cmd := &cobra.Command{
		Use:   "propose ACTION ARGS...",
		Short: "Propose one action, or a list of them with --actions FILE",
		Long: `Actions:
  add-member NAME.pem [key=value ...]   remove-member MEMBER-ID|NAME.pem
  allow-measurement HEX                 revoke-measurement HEX
  set-constitution FILE.json            set-params key=value ...
  set-user USER-ID ROLE...              remove-user USER-ID
  open-network                          trust-node NODE-ID / retire-node NODE-ID / rotate-ledger-secret
--actions FILE.json proposes a JSON list of {"name": ..., "args": {...}}.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var actions []gov.Action
			switch {
			case actionsFile != "":
				data, err := os.ReadFile(actionsFile)
				if err != nil {
					return err
				}
				if err := json.Unmarshal(data, &actions); err != nil {
					return fmt.Errorf("%s: %w", actionsFile, err)
				}
			case len(args) == 0:
				return errors.New("name an action (see --help) or give --actions FILE")
			default:
				a, err := parseAction(args[0], args[1:])
				if err != nil {
					return err
				}
				actions = []gov.Action{a}
			}
			return f.send(cmd.OutOrStdout(), &gov.Request{Kind: gov.KindPropose, Actions: actions})
		},
	}
	cmd.Flags().StringVar(&actionsFile, "actions", "", "JSON file with a list of actions")
	return cmd
}

// parseAction turns the CLI form of an action into its JSON form.
func parseAction(name string, args []string) (gov.Action, error) {
	a := gov.Action{Name: strings.ReplaceAll(name, "-", "_")}
	need := func(n int, usage string) error {
		if len(args) < n {
			return fmt.Errorf("usage: propose %s %s", name, usage)
		}
		return nil
	}
	var v any
	switch a.Name {
	case gov.ActionAddMember:
		if err := need(1, "NAME.pem [key=value ...]"); err != nil {
			return a, err
		}
		pem, err := os.ReadFile(args[0])
		if err != nil {
			return a, err
		}
		add := gov.AddMemberArgs{Member: string(pem)}
		if len(args) > 1 {
			add.Data = keyValues(args[1:])
		}
		v = add
	case gov.ActionRemoveMember:
		if err := need(1, "MEMBER-ID|NAME.pem"); err != nil {
			return a, err
		}
		id := args[0]
		if pem, err := os.ReadFile(id); err == nil {
			pub, err := gov.ParseMemberPublic(pem)
			if err != nil {
				return a, err
			}
			id = pub.ID()
		}
		v = gov.MemberArgs{Member: id}
	case gov.ActionTrustNode, gov.ActionRetireNode:
		if err := need(1, "NODE-ID"); err != nil {
			return a, err
		}
		v = gov.NodeArgs{Node: args[0]}
	case gov.ActionAllowMeasurement, gov.ActionRevokeMeasurement:
		if err := need(1, "HEX"); err != nil {
			return a, err
		}
		v = gov.MeasurementArgs{Measurement: args[0]}
	case gov.ActionSetConstitution:
		if err := need(1, "FILE.json"); err != nil {
			return a, err
		}
		src, err := readConstitution(args[0])
		if err != nil {
			return a, err
		}
		v = src
	case gov.ActionSetParams:
		if err := need(1, "key=value ..."); err != nil {
			return a, err
		}
		v = keyValues(args)
	case gov.ActionSetUser, gov.ActionRemoveUser:
		if err := need(1, "USER-ID [ROLE...]"); err != nil {
			return a, err
		}
		v = gov.UserArgs{User: args[0], Roles: args[1:]}
	case gov.ActionOpenNetwork, gov.ActionRotateLedgerSecret:
		return a, nil
	default:
		return a, fmt.Errorf("unknown action %q (see coco gov propose --help)", name)
	}
	b, err := json.Marshal(v)
	a.Args = b
	return a, err
}

// keyValues parses key=value pairs; values that parse as JSON (numbers,
// booleans) keep their type.
func keyValues(args []string) map[string]any {
	out := map[string]any{}
	for _, kv := range args {
		k, v, _ := strings.Cut(kv, "=")
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			out[k] = n
		} else if b, err := strconv.ParseBool(v); err == nil {
			out[k] = b
		} else {
			out[k] = v
		}
	}
	return out
}

func readConstitution(path string) (*constitution.Source, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var src constitution.Source
	if err := json.Unmarshal(data, &src); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if _, err := constitution.Compile(src); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &src, nil
}

func govVoteCmd(f *govFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "vote PROPOSAL-ID accept|reject",
		Short: "Vote on an open proposal (an unambiguous id prefix is enough)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := f.resolveID(args[0])
			if err != nil {
				return err
			}
			return f.send(cmd.OutOrStdout(), &gov.Request{Kind: gov.KindVote, Proposal: id, Ballot: args[1]})
		},
	}
}

func govWithdrawCmd(f *govFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "withdraw PROPOSAL-ID",
		Short: "Withdraw your own open proposal",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := f.resolveID(args[0])
			if err != nil {
				return err
			}
			return f.send(cmd.OutOrStdout(), &gov.Request{Kind: gov.KindWithdraw, Proposal: id})
		},
	}
}

// send signs and submits a request and prints its outcome.
func (f *govFlags) send(out io.Writer, r *gov.Request) error {
	k, err := f.key()
	if err != nil {
		return err
	}
	ctx, cancel := f.ctx()
	defer cancel()
	s, res, pending, err := f.client().Sign(ctx, k, r)
	if err != nil {
		var se *govapi.StatusError
		if errors.As(err, &se) && se.Result != nil {
			return fmt.Errorf("%s refused in block %d: %s", r.Kind, se.Result.Block, se.Reason)
		}
		return fmt.Errorf("%s refused: %w", r.Kind, err)
	}
	if pending {
		fmt.Fprintf(out, "request %s submitted, not yet executed; check with: coco gov show %s\n", s.ID(), s.ID())
		return nil
	}
	switch r.Kind {
	case gov.KindPropose:
		fmt.Fprintf(out, "proposal %s: %s (block %d)\n", res.Proposal, res.State, res.Block)
	default:
		fmt.Fprintf(out, "%s recorded in block %d; proposal %s is %s\n", r.Kind, res.Block, res.Proposal, res.State)
	}
	return nil
}

// resolveID expands an unambiguous prefix of a proposal id.
func (f *govFlags) resolveID(prefix string) (string, error) {
	if len(prefix) == 64 {
		return prefix, nil
	}
	ctx, cancel := f.ctx()
	defer cancel()
	var ps []gov.Proposal
	if err := f.client().Get(ctx, "/proposals", &ps); err != nil {
		return "", err
	}
	var match []string
	for _, p := range ps {
		if strings.HasPrefix(p.ID, prefix) {
			match = append(match, p.ID)
		}
	}
	switch len(match) {
	case 0:
		return "", fmt.Errorf("no proposal id starts with %q", prefix)
	case 1:
		return match[0], nil
	}
	return "", fmt.Errorf("%d proposals start with %q; give more of the id", len(match), prefix)
}

func govListCmd(f *govFlags) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Open proposals (--all: every proposal) with their actions and ballots",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := f.ctx()
			defer cancel()
			var ps []gov.Proposal
			if err := f.client().Get(ctx, "/proposals", &ps); err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "PROPOSAL\tSTATE\tACTIONS\tBALLOTS\tPROPOSER")
			for _, p := range ps {
				if !all && p.State != gov.StateOpen {
					continue
				}
				var names []string
				for _, a := range p.Actions {
					names = append(names, a.Name)
				}
				accept, reject := 0, 0
				for _, b := range p.Ballots {
					if b == gov.Accept {
						accept++
					} else {
						reject++
					}
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%d accept, %d reject\t%s\n", p.ID[:16], p.State, strings.Join(names, ","), accept, reject, p.Proposer[:16])
			}
			return w.Flush()
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "include closed proposals")
	return cmd
}

func govShowCmd(f *govFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show PROPOSAL-ID",
		Short: "A proposal's state (open, accepted, rejected, withdrawn, failed), actions and ballots",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := f.resolveID(args[0])
			if err != nil {
				return err
			}
			ctx, cancel := f.ctx()
			defer cancel()
			var p json.RawMessage
			if err := f.client().Get(ctx, "/proposals/"+id, &p); err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), string(p))
			return err
		},
	}
}

func govMembersCmd(f *govFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "members",
		Short: "The members table",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := f.ctx()
			defer cancel()
			var ms []gov.Member
			if err := f.client().Get(ctx, "/members", &ms); err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "MEMBER\tNAME\tSTATUS")
			for _, m := range ms {
				fmt.Fprintf(w, "%s\t%s\t%s\n", m.ID, m.Name, m.Status)
			}
			return w.Flush()
		},
	}
}

func govAuditCmd() *cobra.Command {
	var dataDir, genesisPath string
	cmd := &cobra.Command{
		Use:   "audit --data-dir NODE-DIR --genesis genesis.json",
		Short: "Re-check every governance step from a stopped node's ledger files",
		Long: `Reads the ledger of a stopped node, checks each block's consensus signatures,
replays every governance request found in clear in the blocks (checking each
member's signature again) and compares the governance state with the root that
every signed header records. Needs nothing but the files and the genesis.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			g, err := node.LoadGenesis(genesisPath)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "BLOCK\tREQUEST\tKIND\tMEMBER\tPROPOSAL\tOUTCOME")
			steps := 0
			verifier, err := virtual.New(make([]byte, 32))
			if err != nil {
				return err
			}
			last, err := node.AuditGovernance(dataDir, g, verifier, func(r *gov.Result) {
				steps++
				outcome := r.State
				if !r.Applied {
					outcome = "refused: " + r.Reason
				}
				fmt.Fprintf(w, "%d\t%.16s\t%s\t%.16s\t%.16s\t%s\n", r.Block, r.ID, r.Kind, r.Member, r.Proposal, outcome)
			})
			w.Flush()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "audit ok: %d governance requests in blocks 1..%d, every block signed by a quorum, governance roots match every header\n", steps, last)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "the stopped node's data directory")
	cmd.Flags().StringVar(&genesisPath, "genesis", "", "the network's genesis file")
	_ = cmd.MarkFlagRequired("data-dir")
	_ = cmd.MarkFlagRequired("genesis")
	return cmd
}

func govRecoveryShareCmd(f *govFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "recovery-share --node RECOVERING-NODE-URL --as NAME",
		Short: "Give a node that restores a lost network your recovery shares",
		Long: `Fetches the recovering node's attested keys and checks its evidence, decrypts
your recovery share of every ledger secret generation with NAME.key, and
hands each to the node re-encrypted to its enclave key and signed by you.
The node rebuilds a generation once it has the threshold of shares.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := f.key()
			if err != nil {
				return err
			}
			ctx, cancel := f.ctx()
			defer cancel()
			c := f.client()
			ri, err := c.RecoveryInfo(ctx)
			if err != nil {
				return err
			}
			verifier, err := virtual.New(make([]byte, 32))
			if err != nil {
				return err
			}
			if err := ri.Node.Verify(verifier, nil); err != nil {
				return fmt.Errorf("the recovering node's evidence does not check out: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "recovering node %s of network %q, code measurement %x\n", ri.Node.NodeID, ri.Network, ri.Node.Evidence.Measurement)
			nodeKey, err := shares.ParsePublicKey(ri.Node.EncryptionKey)
			if err != nil {
				return err
			}
			mine, err := hpke.DHKEM(ecdh.X25519()).NewPrivateKey(k.DecryptionKey().Bytes())
			if err != nil {
				return err
			}
			// The vote that makes this node the network's consensus set,
			// recorded in the recovery block it writes.
			vote, err := k.Sign(&gov.Request{Kind: gov.KindRecoverNetwork, Network: ri.Network, Height: ri.Height,
				Node: &gov.NodeJoin{ID: ri.Node.NodeID, PublicKey: ri.Node.PublicKey, EncryptionKey: ri.Node.EncryptionKey, Evidence: ri.Node.Evidence}})
			if err != nil {
				return err
			}
			after, err := c.SubmitRecoveryShare(ctx, vote)
			if err != nil {
				return fmt.Errorf("recovery vote: %w", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "recovery vote given: this node is to be the restored network's consensus set")
			given := 0
			if after.Done {
				fmt.Fprintln(cmd.OutOrStdout(), "the node has rebuilt every ledger secret generation and has enough votes")
				return nil
			}
			for _, sg := range ri.Secrets {
				ct := sg.Shares[k.ID()]
				if len(ct) == 0 {
					continue
				}
				share, err := shares.Open(ct, mine, shares.Info(ri.Network, sg.Generation))
				if err != nil {
					return fmt.Errorf("generation %d: cannot open your share: %w", sg.Generation, err)
				}
				sealed, err := shares.Seal(share, nodeKey, gov.RecoveryShareInfo(ri.Network, sg.Generation, ri.Node.NodeID))
				if err != nil {
					return err
				}
				s, err := k.Sign(&gov.Request{Kind: gov.KindRecoveryShare, Network: ri.Network, Height: ri.Height,
					Recovery: &gov.RecoveryShare{Node: ri.Node.NodeID, Generation: sg.Generation, Share: sealed}})
				if err != nil {
					return err
				}
				after, err := c.SubmitRecoveryShare(ctx, s)
				if err != nil {
					return fmt.Errorf("generation %d: %w", sg.Generation, err)
				}
				given++
				for _, need := range after.Generations {
					if need.Generation == sg.Generation {
						fmt.Fprintf(cmd.OutOrStdout(), "generation %d: share given (%d of %d needed)\n", sg.Generation, need.Have, need.Threshold)
					}
				}
				if after.Done {
					fmt.Fprintln(cmd.OutOrStdout(), "the node has rebuilt every ledger secret generation and has enough votes")
					break
				}
			}
			if given == 0 {
				return fmt.Errorf("member %s holds no recovery share of this network", k.Name())
			}
			return nil
		},
	}
}
