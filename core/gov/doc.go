// Package gov owns the network's governance: the tables (members, nodes,
// allowed code measurements, users, constitution, network parameters,
// proposals and ballots) kept in the public "gov" namespace, the signed
// requests members send (proposals, ballots, withdrawals), and the state
// machine that applies them in ledger order.
//
// Every replica executes every governance request itself and checks the
// member's signature, whatever the trust model: governance is rare and its
// requests travel in the public part of batches, so the ledger alone lets
// anyone re-check each step.
//
// The constitution (core/constitution) decides; this package validates the
// shape of actions, enforces the rules no constitution may lift (a member
// votes once, only active members act, a proposal is applied atomically),
// and records outcomes. It must not do I/O beyond its state store, and it
// does not act on the node itself: the node reads the tables (trust model,
// trusted nodes) and reacts to the changes it is told about.
package gov
