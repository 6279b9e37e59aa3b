package constitution

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func mustDefault(t testing.TB) *Constitution {
	t.Helper()
	c, err := Compile(Default())
	if err != nil {
		t.Fatalf("Compile(Default()): %v", err)
	}
	return c
}

// activeMembers returns n active members m1..mn.
func activeMembers(n int) []Member {
	ms := make([]Member, n)
	for i := range ms {
		ms[i] = Member{ID: fmt.Sprintf("m%d", i+1), Status: "active"}
	}
	return ms
}

// votes gives the first accepts members "accept" and the next rejects members "reject".
func votes(accepts, rejects int) map[string]string {
	b := map[string]string{}
	for i := range accepts + rejects {
		v := "accept"
		if i >= accepts {
			v = "reject"
		}
		b[fmt.Sprintf("m%d", i+1)] = v
	}
	return b
}

func proposal(actions ...string) Proposal {
	p := Proposal{ID: "p1", Proposer: "m1"}
	for _, a := range actions {
		p.Actions = append(p.Actions, Action{Name: a, Args: map[string]any{}})
	}
	return p
}

func TestResolveMajority(t *testing.T) {
	c := mustDefault(t)
	tests := []ballotCase{
		{1, 0, 0, Open},
		{1, 1, 0, Accepted},
		{1, 0, 1, Rejected},
		{2, 1, 0, Open},
		{2, 2, 0, Accepted},
		{2, 0, 1, Rejected}, // 2 accepts can no longer be reached
		{3, 1, 0, Open},
		{3, 2, 0, Accepted},
		{3, 1, 1, Open},
		{3, 0, 2, Rejected},
		{3, 1, 2, Rejected},
		{4, 2, 0, Open},
		{4, 3, 0, Accepted},
		{4, 2, 1, Open},
		{4, 1, 2, Rejected}, // at most 2 of 4 can accept: not a strict majority
		{5, 2, 2, Open},
		{5, 3, 0, Accepted},
		{5, 3, 2, Accepted},
		{5, 2, 3, Rejected},
		{5, 0, 2, Open},
	}
	assertResolves(t, c, proposal("add_member", "trust_node"), tests)
}

func TestResolveUnanimityForConstitutionChange(t *testing.T) {
	c := mustDefault(t)
	tests := []ballotCase{
		{1, 1, 0, Accepted},
		{1, 0, 1, Rejected},
		{3, 2, 0, Open}, // a majority is not enough
		{3, 3, 0, Accepted},
		{3, 2, 1, Rejected},
		{5, 0, 1, Rejected}, // one rejection is final
		{5, 4, 0, Open},
		{5, 5, 0, Accepted},
	}
	assertResolves(t, c, proposal("add_member", "set_constitution"), tests)
}

// ballotCase is a vote count and the outcome the constitution must give.
type ballotCase struct {
	members, accepts, rejects int
	want                      Outcome
}

// assertResolves resolves proposal p under each case's ballots.
func assertResolves(t *testing.T, c *Constitution, p Proposal, cases []ballotCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(fmt.Sprintf("%d members %d accept %d reject", tt.members, tt.accepts, tt.rejects), func(t *testing.T) {
			got, err := c.Resolve(Input{Proposal: p, Ballots: votes(tt.accepts, tt.rejects), Members: activeMembers(tt.members)})
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Resolve = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestResolveCountsOnlyActiveMembers(t *testing.T) {
	c := mustDefault(t)
	members := append(activeMembers(3),
		Member{ID: "gone1", Status: "removed"},
		Member{ID: "gone2", Status: "removed"})
	in := Input{
		Proposal: proposal("add_member"),
		// Two accepts from removed members and one from a stranger would make a majority
		// of 3 if they counted.
		Ballots: map[string]string{"m1": "accept", "gone1": "accept", "gone2": "accept", "stranger": "accept"},
		Members: members,
	}
	if got, err := c.Resolve(in); err != nil || got != Open {
		t.Fatalf("Resolve = %q, %v; want open", got, err)
	}
	in.Ballots = map[string]string{"m1": "accept", "gone1": "reject", "gone2": "reject", "m2": "abstain"}
	if got, err := c.Resolve(in); err != nil || got != Open {
		t.Fatalf("Resolve with removed rejections = %q, %v; want open", got, err)
	}
	in.Ballots["m3"] = "accept"
	if got, err := c.Resolve(in); err != nil || got != Accepted {
		t.Fatalf("Resolve with 2 of 3 active accepts = %q, %v; want accepted", got, err)
	}
}

func TestResolveCounts(t *testing.T) {
	src := Default()
	src.Resolve = `active_members == 2 && accepts == 1 && rejects == 1 && trusted_nodes == 2 && size(ballots) == 4
	    && size(members) == 3 && size(nodes) == 4 && proposal.id == "p1" && proposal.proposer == "m1"
	    && params.recovery_threshold == 1 ? "open" : "rejected"`
	c, err := Compile(src)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Resolve(Input{
		Proposal: proposal("add_member"),
		Ballots:  map[string]string{"m1": "accept", "m2": "reject", "old": "accept", "x": "reject"},
		Members:  []Member{{ID: "m1", Status: "active"}, {ID: "m2", Status: "active"}, {ID: "old", Status: "removed"}},
		Nodes: []Node{
			{ID: "n1", Status: "trusted"}, {ID: "n2", Status: "trusted"},
			{ID: "n3", Status: "pending"}, {ID: "n4", Status: "retired"},
		},
		// The constitution's own threshold wins over the caller's.
		Params: map[string]any{"recovery_threshold": 7},
	})
	if err != nil || got != Open {
		t.Fatalf("Resolve = %q, %v; want the precomputed values to match (open)", got, err)
	}
}

func TestValidateDefault(t *testing.T) {
	c := mustDefault(t)
	threeMembers := append(activeMembers(3), Member{ID: "old", Status: "removed"})
	fiveNodes := []Node{
		{ID: "n1", Status: "trusted"}, {ID: "n2", Status: "trusted"}, {ID: "n3", Status: "trusted"},
		{ID: "n4", Status: "trusted"}, {ID: "n5", Status: "pending"},
	}
	tests := []struct {
		name      string
		threshold int
		members   []Member
		nodes     []Node
		params    map[string]any
		action    Action
		reason    string // "" = valid
	}{
		{name: "every known action", action: Action{Name: "open_network"}},
		{name: "add_member", action: Action{Name: "add_member", Args: map[string]any{"member_id": "m9"}}},
		{name: "unknown action", action: Action{Name: "set_member"}, reason: "unknown action set_member"},
		{name: "empty action name", action: Action{Name: ""}, reason: "unknown action "},

		{name: "remove_member leaves enough", threshold: 2,
			action: Action{Name: "remove_member", Args: map[string]any{"member_id": "m1"}}},
		{name: "remove_member below threshold", threshold: 3,
			action: Action{Name: "remove_member", Args: map[string]any{"member_id": "m1"}},
			reason: "remove_member would leave 2 active members, the recovery threshold is 3"},
		{name: "remove_member singular", threshold: 2, members: activeMembers(2),
			action: Action{Name: "remove_member", Args: map[string]any{"member_id": "m2"}},
			reason: "remove_member would leave 1 active member, the recovery threshold is 2"},
		{name: "remove last member", threshold: 1, members: activeMembers(1),
			action: Action{Name: "remove_member", Args: map[string]any{"member_id": "m1"}},
			reason: "remove_member would leave no active member"},
		{name: "remove an already removed member", threshold: 3,
			action: Action{Name: "remove_member", Args: map[string]any{"member_id": "old"}}},
		{name: "remove_member without id",
			action: Action{Name: "remove_member"}, reason: "remove_member needs a member_id"},

		{name: "retire_node leaves min_nodes", params: map[string]any{"min_nodes": 3},
			action: Action{Name: "retire_node", Args: map[string]any{"node_id": "n1"}}},
		{name: "retire_node below min_nodes", params: map[string]any{"min_nodes": 4},
			action: Action{Name: "retire_node", Args: map[string]any{"node_id": "n1"}},
			reason: "retire_node would leave 3 trusted nodes, the minimum is 4"},
		{name: "retire a pending node", params: map[string]any{"min_nodes": 4},
			action: Action{Name: "retire_node", Args: map[string]any{"node_id": "n5"}}},
		{name: "retire the last node without min_nodes",
			nodes:  []Node{{ID: "n1", Status: "trusted"}},
			action: Action{Name: "retire_node", Args: map[string]any{"node_id": "n1"}},
			reason: "retire_node would leave 0 trusted nodes, the minimum is 1"},
		{name: "retire_node without id",
			action: Action{Name: "retire_node"}, reason: "retire_node needs a node_id"},

		{name: "set_constitution threshold ok",
			action: Action{Name: "set_constitution", Args: map[string]any{"recovery_threshold": 3}}},
		{name: "set_constitution threshold too high",
			action: Action{Name: "set_constitution", Args: map[string]any{"recovery_threshold": 4}},
			reason: "the recovery_threshold must be between 1 and 3 (the number of active members), got 4"},
		{name: "set_constitution threshold zero",
			action: Action{Name: "set_constitution", Args: map[string]any{"recovery_threshold": 0}},
			reason: "the recovery_threshold must be between 1 and 3 (the number of active members), got 0"},
		{name: "set_constitution threshold not whole",
			action: Action{Name: "set_constitution", Args: map[string]any{"recovery_threshold": 1.5}},
			reason: "the recovery_threshold of set_constitution must be a whole number"},
		{name: "set_constitution without threshold",
			action: Action{Name: "set_constitution", Args: map[string]any{"validate": "true"}},
			reason: "set_constitution needs a recovery_threshold"},

		{name: "set_params tee", action: Action{Name: "set_params", Args: map[string]any{"trust_model": "tee"}}},
		{name: "set_params bft", action: Action{Name: "set_params", Args: map[string]any{"trust_model": "bft", "min_nodes": 4}}},
		{name: "set_params other keys", action: Action{Name: "set_params", Args: map[string]any{"min_nodes": 7}}},
		{name: "set_params bad trust_model",
			action: Action{Name: "set_params", Args: map[string]any{"trust_model": "cft"}},
			reason: `trust_model must be "bft" or "tee", got "cft"`},
		{name: "set_params trust_model not a string",
			action: Action{Name: "set_params", Args: map[string]any{"trust_model": 1}},
			reason: `trust_model must be "bft" or "tee"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := c
			if tt.threshold != 0 {
				src := Default()
				src.RecoveryThreshold = tt.threshold
				var err error
				if c, err = Compile(src); err != nil {
					t.Fatal(err)
				}
			}
			in := Input{Proposal: Proposal{ID: "p1", Proposer: "m1", Actions: []Action{tt.action}},
				Members: threeMembers, Nodes: fiveNodes, Params: tt.params}
			if tt.members != nil {
				in.Members = tt.members
			}
			if tt.nodes != nil {
				in.Nodes = tt.nodes
			}
			err := c.Validate(in, tt.action)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want valid", err)
				}
				return
			}
			var rej *RejectedError
			if !errors.As(err, &rej) || !errors.Is(err, ErrRejected) {
				t.Fatalf("Validate = %v, want a rejection", err)
			}
			if rej.Reason != tt.reason || rej.Action != tt.action.Name {
				t.Errorf("rejection = %q for %q, want %q", rej.Reason, rej.Action, tt.reason)
			}
		})
	}
}

func TestValidateKnownActions(t *testing.T) {
	c := mustDefault(t)
	in := Input{Members: activeMembers(2), Nodes: []Node{{ID: "n1", Status: "trusted"}, {ID: "n2", Status: "trusted"}}}
	for _, name := range []string{"add_member", "trust_node", "allow_measurement", "revoke_measurement",
		"rotate_ledger_secret", "set_user", "remove_user", "open_network", "set_params"} {
		if err := c.Validate(in, Action{Name: name}); err != nil {
			t.Errorf("Validate(%s) = %v, want valid", name, err)
		}
	}
}

func TestValidateJSONArgs(t *testing.T) {
	c := mustDefault(t)
	in := Input{Members: activeMembers(3)}
	for _, tt := range []struct{ args, reason string }{
		{`{"recovery_threshold": 2}`, ""},
		{`{"recovery_threshold": 2.0}`, ""},
		{`{"recovery_threshold": 2.5}`, "the recovery_threshold of set_constitution must be a whole number"},
		{`{"recovery_threshold": "2"}`, "the recovery_threshold of set_constitution must be a whole number"},
	} {
		for _, useNumber := range []bool{false, true} {
			dec := json.NewDecoder(strings.NewReader(tt.args))
			if useNumber {
				dec.UseNumber()
			}
			var args map[string]any
			if err := dec.Decode(&args); err != nil {
				t.Fatal(err)
			}
			err := c.Validate(in, Action{Name: "set_constitution", Args: args})
			var rej *RejectedError
			switch {
			case tt.reason == "" && err != nil:
				t.Errorf("%s (UseNumber %v): Validate = %v, want valid", tt.args, useNumber, err)
			case tt.reason != "" && (!errors.As(err, &rej) || rej.Reason != tt.reason):
				t.Errorf("%s (UseNumber %v): Validate = %v, want %q", tt.args, useNumber, err, tt.reason)
			}
		}
	}
}

func TestValidateBoolResult(t *testing.T) {
	src := Default()
	src.Validate = `action.name != "open_network" || size(proposal.actions) == 1`
	c, err := Compile(src)
	if err != nil {
		t.Fatal(err)
	}
	ok := Action{Name: "open_network"}
	if err := c.Validate(Input{Proposal: Proposal{Actions: []Action{ok}}}, ok); err != nil {
		t.Errorf("true: Validate = %v, want nil", err)
	}
	err = c.Validate(Input{Proposal: Proposal{Actions: []Action{ok, ok}}}, ok)
	var rej *RejectedError
	if !errors.As(err, &rej) || rej.Reason != "the constitution does not allow this open_network action" {
		t.Errorf("false: Validate = %v, want the generic rejection", err)
	}
}

func TestCompileErrors(t *testing.T) {
	valid := Default()
	tests := []struct {
		name     string
		validate string
		resolve  string
		want     string // part of the error message
	}{
		{"syntax", `action.name ==`, valid.Resolve, "validate: ERROR"},
		{"type error", valid.Validate, `accepts + "1" == "open" ? "open" : "open"`, "found no matching overload for '_+_'"},
		{"unknown variable", valid.Validate, `quorum > 1 ? "accepted" : "open"`, "undeclared reference to 'quorum'"},
		{"typo in a field", `action.nmae == "add_member"`, valid.Resolve, "undefined field 'nmae'"},
		{"typo in a record field", `members.exists(m, m.stauts == "active")`, valid.Resolve, "undefined field 'stauts'"},
		{"action is validate only", valid.Validate, `action.name == "x" ? "open" : "open"`, "undeclared reference to 'action'"},
		{"validate result type", `1`, valid.Resolve, "validate returns int, it must return bool or string"},
		{"resolve result type", valid.Validate, `accepts > 0`, "resolve returns bool, it must return string"},
		{"empty", valid.Validate, "  ", "resolve is empty"},
		{"time zone lookups", `timestamp("2024-01-01T00:00:00Z").getHours("Europe/Paris") > 1`, valid.Resolve, "getHours"},
		{"no clock", `now() > 1`, valid.Resolve, "undeclared reference to 'now'"},
		{"records are not constructible", `coco.Member{id: "x"}.id == "x"`, valid.Resolve, "coco.Member values are inputs and cannot be constructed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(Source{Validate: tt.validate, Resolve: tt.resolve, RecoveryThreshold: 1})
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Compile = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Compile error %q does not mention %q", err, tt.want)
			}
		})
	}
	src := Default()
	src.RecoveryThreshold = 0
	if _, err := Compile(src); !errors.Is(err, ErrInvalid) {
		t.Errorf("Compile with recovery_threshold 0 = %v, want ErrInvalid", err)
	}
}

func TestResolveRejectsOtherResults(t *testing.T) {
	for _, resolve := range []string{`"maybe"`, `dyn(accepts)`} {
		src := Default()
		src.Resolve = resolve
		c, err := Compile(src)
		if err != nil {
			t.Fatal(err)
		}
		if out, err := c.Resolve(Input{}); !errors.Is(err, ErrEvaluation) {
			t.Errorf("%s: Resolve = %q, %v; want ErrEvaluation", resolve, out, err)
		}
	}
	src := Default()
	src.Validate = `dyn(1)`
	c, err := Compile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(Input{}, Action{Name: "x"}); !errors.Is(err, ErrEvaluation) {
		t.Errorf("Validate returning an int = %v, want ErrEvaluation", err)
	}
}

func TestRuntimeErrorIsNotARejection(t *testing.T) {
	src := Default()
	src.Validate = `params.missing == 1`
	c, err := Compile(src)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate(Input{}, Action{Name: "add_member"})
	if !errors.Is(err, ErrEvaluation) || errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "no such key: missing") {
		t.Errorf("Validate = %v, want ErrEvaluation naming the missing key", err)
	}
}

func TestCostLimit(t *testing.T) {
	src := Default()
	src.Resolve = `members.all(a, members.all(b, members.all(c, a.id != "" || b.id != c.id))) ? "open" : "rejected"`
	c, err := Compile(src)
	if err != nil {
		t.Fatal(err)
	}
	// 10 members cost little; 100 members mean a million iterations.
	if got, err := c.Resolve(Input{Members: activeMembers(10)}); err != nil || got != Open {
		t.Fatalf("small input: Resolve = %q, %v", got, err)
	}
	_, err = c.Resolve(Input{Members: activeMembers(100)})
	if !errors.Is(err, ErrCostLimit) || !errors.Is(err, ErrEvaluation) {
		t.Fatalf("Resolve = %v, want ErrCostLimit", err)
	}

	// Cost grows with the constitution's own literals too, without any input.
	src = Default()
	src.Validate = `[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b,
	    [1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d,
	    [1,2,3,4,5,6,7,8,9,10].all(e, a + b + c + d + e > 0)))))`
	if c, err = Compile(src); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(Input{}, Action{Name: "add_member"}); !errors.Is(err, ErrCostLimit) {
		t.Fatalf("Validate = %v, want ErrCostLimit", err)
	}
}

func TestInputErrors(t *testing.T) {
	c := mustDefault(t)
	err := c.Validate(Input{Members: activeMembers(1)}, Action{Name: "add_member", Args: map[string]any{"x": make(chan int)}})
	if !errors.Is(err, ErrInput) {
		t.Errorf("channel arg: Validate = %v, want ErrInput", err)
	}
	_, err = c.Resolve(Input{Members: append(activeMembers(2), Member{ID: "m1", Status: "removed"})})
	if !errors.Is(err, ErrInput) {
		t.Errorf("duplicate member: Resolve = %v, want ErrInput", err)
	}
	_, err = c.Resolve(Input{Nodes: []Node{{ID: "n"}, {ID: "n"}}})
	if !errors.Is(err, ErrInput) {
		t.Errorf("duplicate node: Resolve = %v, want ErrInput", err)
	}
}

func TestInputValues(t *testing.T) {
	src := Default()
	src.Validate = `action.args.list[1].k == 2 && action.args.u == 3 && action.args.f == 0.5
	    && action.args.strs == ["a", "b"] && action.args.nested.m.n + 1 == 8 && action.args.none == null
	    && members[0].data.role == "auditor" && nodes[0].measurement == "abc"`
	c, err := Compile(src)
	if err != nil {
		t.Fatal(err)
	}
	in := Input{
		Members: []Member{{ID: "m1", Status: "active", Data: map[string]any{"role": "auditor"}}},
		Nodes:   []Node{{ID: "n1", Status: "trusted", Measurement: "abc"}},
	}
	err = c.Validate(in, Action{Name: "x", Args: map[string]any{
		"list":   []any{1, map[string]any{"k": int32(2)}},
		"u":      uint8(3),
		"f":      float32(0.5),
		"strs":   []string{"a", "b"},
		"nested": map[string]map[string]float64{"m": {"n": 7}},
		"none":   nil,
	}})
	if err != nil {
		t.Fatalf("Validate = %v, want the values to reach CEL unchanged", err)
	}
}

func TestSourceJSONRoundTrip(t *testing.T) {
	src := Default()
	src.RecoveryThreshold = 3
	data, err := json.Marshal(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"validate":`, `"resolve":`, `"recovery_threshold":3`} {
		if !strings.Contains(string(data), key) {
			t.Errorf("JSON %s lacks %s", data, key)
		}
	}
	var back Source
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back != src {
		t.Fatalf("round trip changed the source: %+v", back)
	}
	c, err := Compile(back)
	if err != nil {
		t.Fatal(err)
	}
	if c.Source() != src {
		t.Errorf("Source() = %+v, want the compiled source", c.Source())
	}
}

func TestDeterministic(t *testing.T) {
	// Map iteration order reaches the result here: the reason is the first key visited.
	src := Default()
	src.Validate = `params.map(k, k)[0] + "," + ballots.map(k, k)[0] + "," + action.args.map(k, k)[0]`
	params := map[string]any{}
	ballots := map[string]string{}
	args := map[string]any{}
	for i := range 30 {
		k := fmt.Sprintf("k%02d", 29-i)
		params[k], ballots[k], args[k] = i, "accept", i
	}
	in := Input{Proposal: proposal("add_member"), Ballots: ballots, Members: activeMembers(5), Params: params}
	for i := range 50 {
		c, err := Compile(src)
		if err != nil {
			t.Fatal(err)
		}
		err = c.Validate(in, Action{Name: "x", Args: args})
		var rej *RejectedError
		if !errors.As(err, &rej) || rej.Reason != "k00,k00,k00" {
			t.Fatalf("run %d: Validate = %v, want maps visited in sorted key order", i, err)
		}
		in.Ballots["m1"], in.Ballots["m2"] = "accept", "reject"
		if got, err := c.Resolve(in); err != nil || got != Open {
			t.Fatalf("run %d: Resolve = %q, %v; want open (1 accept, 1 reject of 5)", i, got, err)
		}
	}
}

func BenchmarkResolve7Members(b *testing.B) {
	c := mustDefault(b)
	in := Input{
		Proposal: proposal("add_member", "trust_node", "set_params"),
		Ballots:  votes(3, 2),
		Members:  activeMembers(7),
		Nodes:    []Node{{ID: "n1", Status: "trusted"}, {ID: "n2", Status: "trusted"}, {ID: "n3", Status: "trusted"}, {ID: "n4", Status: "trusted"}},
		Params:   map[string]any{"min_nodes": 4, "trust_model": "tee"},
	}
	for b.Loop() {
		if got, err := c.Resolve(in); err != nil || got != Open {
			b.Fatalf("Resolve = %q, %v", got, err)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	c := mustDefault(t)
	in := Input{Proposal: proposal("add_member"), Ballots: votes(2, 0), Members: activeMembers(3)}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			for range 50 {
				if got, err := c.Resolve(in); err != nil || got != Accepted {
					errs <- fmt.Errorf("Resolve = %q, %v", got, err)
					return
				}
				if err := c.Validate(in, Action{Name: "add_member"}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
