// Command pubtools-sign signs release artifacts through a signing server
// (AMQP 1.0) or cosign, as a command line compatible with Python
// pubtools-sign or as a NATS worker daemon (pubtools-sign serve).
//
// Called through a link named after a Python entry point
// (pubtools-sign-msg-container-sign, ...) it runs that subcommand.
package main

import (
	"os"

	"github.com/release-engineering/pubtools-sign-go/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args, os.Stdout, os.Stderr))
}
