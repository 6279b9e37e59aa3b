package constitution

// Default returns the genesis constitution. Actions name their target in args.member_id
// (remove_member) and args.node_id (retire_node); set_constitution's args are the new
// Source's fields; set_params' args are the parameters to set.
func Default() Source {
	return Source{Validate: defaultValidate, Resolve: defaultResolve, RecoveryThreshold: 1}
}

const defaultValidate = `// Genesis constitution, validation of one action.
// Result: "" when the action is allowed, otherwise the reason shown to members.
!(action.name in [
    "add_member", "remove_member", "trust_node", "retire_node",
    "allow_measurement", "revoke_measurement", "rotate_ledger_secret",
    "set_constitution", "set_params", "set_user", "remove_user", "open_network"])
  ? "unknown action " + action.name

// Members govern and hold the recovery shares: keep at least one active member, and at
// least as many as the recovery threshold.
: action.name == "remove_member"
  ? (!has(action.args.member_id)
      ? "remove_member needs a member_id"
      : cel.bind(left,
          active_members - (members.exists(m, m.id == action.args.member_id && m.status == "active") ? 1 : 0),
          left < 1
            ? "remove_member would leave no active member"
            : left < params.recovery_threshold
              ? "remove_member would leave " + string(left)
                + (left == 1 ? " active member" : " active members")
                + ", the recovery threshold is " + string(params.recovery_threshold)
              : ""))

// Keep enough trusted nodes to run consensus (params.min_nodes, at least one).
: action.name == "retire_node"
  ? (!has(action.args.node_id)
      ? "retire_node needs a node_id"
      : cel.bind(left,
          trusted_nodes - (nodes.exists(n, n.id == action.args.node_id && n.status == "trusted") ? 1 : 0),
          cel.bind(minimum, has(params.min_nodes) ? params.min_nodes : 1,
            left < minimum
              ? "retire_node would leave " + string(left)
                + (left == 1 ? " trusted node" : " trusted nodes")
                + ", the minimum is " + string(minimum)
              : "")))

// The recovery threshold must be reachable by the current active members.
: action.name == "set_constitution"
  ? (!has(action.args.recovery_threshold)
      ? "set_constitution needs a recovery_threshold"
      : type(action.args.recovery_threshold) != int
        ? "the recovery_threshold of set_constitution must be a whole number"
        : action.args.recovery_threshold < 1 || action.args.recovery_threshold > active_members
          ? "the recovery_threshold must be between 1 and " + string(active_members)
            + " (the number of active members), got " + string(action.args.recovery_threshold)
          : "")

: action.name == "set_params" && has(action.args.trust_model)
    && !(action.args.trust_model in ["bft", "tee"])
  ? "trust_model must be \"bft\" or \"tee\""
    + (type(action.args.trust_model) == string ? ", got \"" + action.args.trust_model + "\"" : "")

: ""
`

const defaultResolve = `// Genesis constitution, outcome of a proposal.
// Replacing the constitution needs every active member; anything else a strict majority.
proposal.actions.exists(a, a.name == "set_constitution")
  ? (rejects > 0 || active_members == 0
      ? "rejected"
      : accepts == active_members ? "accepted" : "open")
  : (accepts * 2 > active_members
      ? "accepted"
      // A majority can no longer be reached.
      : rejects * 2 >= active_members ? "rejected" : "open")
`
