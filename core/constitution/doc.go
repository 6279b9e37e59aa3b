// Package constitution compiles and evaluates the network's constitution: two CEL programs,
// stored in the ledger as data, that validate each action of a governance proposal and decide
// when a proposal is accepted or rejected.
//
// Every replica must reach the same verdict, so evaluation is deterministic and bounded: the
// environment holds only CEL's standard library (without time-zone lookups) and cel.bind,
// maps given as input iterate in sorted key order, and each evaluation stops with ErrCostLimit
// once it exceeds MaxCost. Programs are type-checked against declared variables and record
// types at Compile, so a typo in a variable or field name is refused when the constitution is
// proposed, not when members vote.
//
// The package owns only compiling and evaluating. It must not read or write ledger state,
// know how proposals or ballots are stored or signed, or import core/gov: its inputs are plain
// Go values that the caller assembles.
package constitution
