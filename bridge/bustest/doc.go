// Package bustest runs NATS servers inside a test process, the way an
// operator's external NATS cluster would run outside the nodes. It owns
// nothing of the bus itself (package bridge does) and must not be imported
// by non-test code.
package bustest
