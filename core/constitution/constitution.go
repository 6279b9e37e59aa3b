package constitution

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
)

// MaxCost bounds one evaluation of either program, in CEL's cost units (roughly one per
// operation and per element visited). Replicas compute the same cost, so they all stop at the
// same point.
const MaxCost = 100_000

var (
	// ErrInvalid: the constitution does not compile (syntax, types, unknown names, result
	// type, recovery threshold).
	ErrInvalid = errors.New("invalid constitution")
	// ErrRejected: the constitution refuses an action; the error is a *RejectedError.
	ErrRejected = errors.New("rejected by the constitution")
	// ErrEvaluation: a program failed at run time or returned a value outside its contract.
	ErrEvaluation = errors.New("constitution evaluation failed")
	// ErrCostLimit: an evaluation exceeded MaxCost; such errors also match ErrEvaluation.
	ErrCostLimit = errors.New("constitution cost limit exceeded")
	// ErrInput: the caller's input cannot be given to CEL (unsupported value type, duplicate id).
	ErrInput = errors.New("invalid constitution input")
)

// RejectedError carries the reason the constitution gives for refusing an action, meant to
// be shown to members as is.
type RejectedError struct {
	Action string
	Reason string
}

func (e *RejectedError) Error() string { return ErrRejected.Error() + ": " + e.Reason }
func (e *RejectedError) Unwrap() error { return ErrRejected }

// Source is a constitution as stored in the ledger (JSON).
type Source struct {
	// Validate is evaluated once per action; it yields true or "" for a valid action, and
	// false or a non-empty reason for an invalid one.
	Validate string `json:"validate"`
	// Resolve is evaluated at proposal time and after each ballot; it yields "open",
	// "accepted" or "rejected".
	Resolve string `json:"resolve"`
	// RecoveryThreshold is the number of members' recovery shares needed to recover the
	// ledger secret. Programs see it as params.recovery_threshold.
	RecoveryThreshold int `json:"recovery_threshold"`
}

// Outcome is the state of a proposal according to Resolve.
type Outcome string

const (
	Open     Outcome = "open"
	Accepted Outcome = "accepted"
	Rejected Outcome = "rejected"
)

// Action is one action of a proposal; Args are decoded from JSON.
type Action struct {
	Name string
	Args map[string]any
}

// Member is a consortium member; Status is "active" or "removed".
type Member struct {
	ID     string
	Status string
	Data   map[string]any
}

// Node is a node of the network; Status is "pending", "trusted" or "retired".
type Node struct {
	ID          string
	Status      string
	Measurement string
}

// Proposal is a list of actions signed by a member.
type Proposal struct {
	ID       string
	Proposer string
	Actions  []Action
}

// Input is everything the programs see. Ballots maps a member id to "accept" or "reject".
//
// CEL variables: proposal {id, proposer, actions: list of {name, args}}; action {name, args}
// (validate only); ballots map(string, string); members list of {id, status, data}; nodes
// list of {id, status, measurement}; params map(string, dyn), whose recovery_threshold is
// always the constitution's RecoveryThreshold. Precomputed ints: active_members (members with
// status "active"), accepts and rejects (ballots of active members only), trusted_nodes
// (nodes with status "trusted"). Whole numbers in args, data and params are ints, whatever
// their Go type (JSON's float64 and json.Number included); maps iterate in sorted key order.
type Input struct {
	Proposal Proposal
	Ballots  map[string]string
	Members  []Member
	Nodes    []Node
	Params   map[string]any
}

// Constitution is a compiled Source; it is immutable and safe for concurrent use.
type Constitution struct {
	src      Source
	validate cel.Program
	resolve  cel.Program
}

// Compile type-checks and plans both programs of src.
func Compile(src Source) (*Constitution, error) {
	if src.RecoveryThreshold < 1 {
		return nil, fmt.Errorf("%w: recovery_threshold is %d, it must be at least 1", ErrInvalid, src.RecoveryThreshold)
	}
	validate, err := compile(validateEnv, "validate", src.Validate, cel.BoolType, cel.StringType)
	if err != nil {
		return nil, err
	}
	resolve, err := compile(resolveEnv, "resolve", src.Resolve, cel.StringType)
	if err != nil {
		return nil, err
	}
	return &Constitution{src: src, validate: validate, resolve: resolve}, nil
}

func compile(newEnv func() (*cel.Env, error), name, text string, results ...*cel.Type) (cel.Program, error) {
	if strings.TrimSpace(text) == "" {
		return nil, fmt.Errorf("%w: %s is empty", ErrInvalid, name)
	}
	env, err := newEnv()
	if err != nil {
		return nil, err
	}
	ast, iss := env.Compile(text)
	if iss.Err() != nil {
		return nil, fmt.Errorf("%w: %s: %s", ErrInvalid, name, iss.Err())
	}
	out := ast.OutputType()
	ok := out.IsExactType(cel.DynType)
	for _, t := range results {
		ok = ok || out.IsExactType(t)
	}
	if !ok {
		want := make([]string, len(results))
		for i, t := range results {
			want[i] = t.String()
		}
		return nil, fmt.Errorf("%w: %s returns %s, it must return %s", ErrInvalid, name, out, strings.Join(want, " or "))
	}
	prg, err := env.Program(ast, cel.CostLimit(MaxCost))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, name, err)
	}
	return prg, nil
}

// Source returns the constitution as it was compiled.
func (c *Constitution) Source() Source { return c.src }

// Validate evaluates the validate program for one action of in.Proposal. It returns nil when
// the action is valid, a *RejectedError (matching ErrRejected) when the constitution refuses
// it, and an error matching ErrEvaluation or ErrInput when the program cannot decide.
func (c *Constitution) Validate(in Input, action Action) error {
	vars, err := c.vars(in)
	if err != nil {
		return err
	}
	if vars["action"], err = actionVal(action); err != nil {
		return fmt.Errorf("%w: action: %w", ErrInput, err)
	}
	out, err := eval(c.validate, "validate", vars)
	if err != nil {
		return err
	}
	switch r := out.(type) {
	case types.Bool:
		if r {
			return nil
		}
		return &RejectedError{Action: action.Name, Reason: "the constitution does not allow this " + action.Name + " action"}
	case types.String:
		if r == "" {
			return nil
		}
		return &RejectedError{Action: action.Name, Reason: string(r)}
	}
	return fmt.Errorf("%w: validate returned a %s, it must return a bool or a string", ErrEvaluation, out.Type().TypeName())
}

// Resolve evaluates the resolve program and reports whether the proposal is open, accepted
// or rejected.
func (c *Constitution) Resolve(in Input) (Outcome, error) {
	vars, err := c.vars(in)
	if err != nil {
		return "", err
	}
	out, err := eval(c.resolve, "resolve", vars)
	if err != nil {
		return "", err
	}
	if s, ok := out.(types.String); ok {
		switch o := Outcome(s); o {
		case Open, Accepted, Rejected:
			return o, nil
		}
		return "", fmt.Errorf("%w: resolve returned %q, it must return %q, %q or %q", ErrEvaluation, string(s), Open, Accepted, Rejected)
	}
	return "", fmt.Errorf("%w: resolve returned a %s, it must return a string", ErrEvaluation, out.Type().TypeName())
}

func eval(prg cel.Program, name string, vars map[string]any) (ref.Val, error) {
	out, _, err := prg.Eval(vars)
	if err != nil {
		var cancelled interpreter.EvalCancelledError
		if errors.As(err, &cancelled) && cancelled.Cause == interpreter.CostLimitExceeded {
			return nil, fmt.Errorf("%w: %w: %s exceeded %d", ErrEvaluation, ErrCostLimit, name, MaxCost)
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrEvaluation, name, err)
	}
	return out, nil
}

// vars builds the variables both programs see, including the precomputed counts.
func (c *Constitution) vars(in Input) (map[string]any, error) {
	active := make(map[string]bool, len(in.Members))
	members := make([]any, len(in.Members))
	for i, m := range in.Members {
		if _, dup := active[m.ID]; dup {
			return nil, fmt.Errorf("%w: member %q is listed twice", ErrInput, m.ID)
		}
		active[m.ID] = m.Status == "active"
		members[i] = map[string]any{"id": m.ID, "status": m.Status, "data": orEmpty(m.Data)}
	}
	activeMembers, accepts, rejects := 0, 0, 0
	for _, a := range active {
		if a {
			activeMembers++
		}
	}
	for id, vote := range in.Ballots {
		if !active[id] {
			continue
		}
		switch vote {
		case "accept":
			accepts++
		case "reject":
			rejects++
		}
	}
	seen := make(map[string]bool, len(in.Nodes))
	nodes := make([]any, len(in.Nodes))
	trusted := 0
	for i, n := range in.Nodes {
		if seen[n.ID] {
			return nil, fmt.Errorf("%w: node %q is listed twice", ErrInput, n.ID)
		}
		seen[n.ID] = true
		if n.Status == "trusted" {
			trusted++
		}
		nodes[i] = map[string]any{"id": n.ID, "status": n.Status, "measurement": n.Measurement}
	}
	actions := make([]any, len(in.Proposal.Actions))
	for i, a := range in.Proposal.Actions {
		actions[i] = map[string]any{"name": a.Name, "args": orEmpty(a.Args)}
	}
	// The constitution's own threshold is the current one, whatever the caller passed.
	params := make(map[string]any, len(in.Params)+1)
	for k, v := range in.Params {
		params[k] = v
	}
	params["recovery_threshold"] = c.src.RecoveryThreshold

	vars := map[string]any{
		"active_members": types.Int(activeMembers),
		"accepts":        types.Int(accepts),
		"rejects":        types.Int(rejects),
		"trusted_nodes":  types.Int(trusted),
	}
	ballots := in.Ballots
	if ballots == nil {
		ballots = map[string]string{}
	}
	// A fixed order keeps the error for a bad input the same on every replica.
	for _, v := range []struct {
		name  string
		value any
	}{
		{"proposal", map[string]any{"id": in.Proposal.ID, "proposer": in.Proposal.Proposer, "actions": actions}},
		{"ballots", ballots},
		{"members", members},
		{"nodes", nodes},
		{"params", params},
	} {
		val, err := toVal(v.value)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInput, v.name, err)
		}
		vars[v.name] = val
	}
	return vars, nil
}

func actionVal(a Action) (ref.Val, error) {
	return toVal(map[string]any{"name": a.Name, "args": orEmpty(a.Args)})
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}
