// Package e2e runs the real `coco` binary as a separate process and talks to
// it only through public clients (go-ethereum's ethclient and rpc), the way a
// user would: start, use, Ctrl-C, kill -9, restart.
package e2e
