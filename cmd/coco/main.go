// Command coco runs Coco nodes and their tools.
package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func clientVersion() string {
	return fmt.Sprintf("Coco/v%s/%s-%s/%s", version, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

func main() {
	root := &cobra.Command{
		Use:           "coco",
		Short:         "Coco: a confidential consortium ledger",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(devCmd(), nodeCmd(), networkCmd(), testnetCmd(), keysCmd(), govCmd(), benchCmd(), versionCmd())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "coco:", err)
		os.Exit(1)
	}
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Run:   func(*cobra.Command, []string) { fmt.Println(clientVersion()) },
	}
}
