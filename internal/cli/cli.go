// Package cli is the pubtools-sign command line: the Python tool's commands
// flag for flag, plus the daemon and development commands. It only wires
// config, signers and the worker together.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/signers"
)

// Exit codes.
const (
	ExitOK     = 0
	ExitFailed = 1 // signing failed
	ExitUsage  = 2 // usage or configuration mistake
)

// exitError carries an exit code up to Main.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// failed ends a command with exit 1 without printing more.
var errFailed = &exitError{code: ExitFailed}

// IO is where the commands write.
type IO struct {
	Stdout, Stderr io.Writer
}

// Main runs the command line and returns the exit code. args[0] picks the
// subcommand when the binary is called by a Python script name such as
// pubtools-sign-msg-container-sign.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, args, IO{Stdout: stdout, Stderr: stderr})
}

// Run is Main with a context and IO of the caller's.
func Run(ctx context.Context, args []string, streams IO) int {
	root := NewRoot(streams)
	var prof profiling
	prof.register(root)
	root.PersistentPreRunE = func(*cobra.Command, []string) error { return prof.start() }
	rest := args[1:]
	if sub := aliasOf(filepath.Base(args[0])); sub != "" {
		rest = append([]string{sub}, rest...)
	}
	root.SetArgs(rest)
	err := root.ExecuteContext(ctx)
	if perr := prof.stop(); perr != nil && err == nil {
		err = perr
	}
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(streams.Stderr, "pubtools-sign: "+ee.msg)
		}
		return ee.code
	}
	// cobra's own errors: unknown flags, missing required flags, bad args.
	fmt.Fprintln(streams.Stderr, "pubtools-sign: "+err.Error())
	return ExitUsage
}

// aliasOf maps a Python entry-point script name to its subcommand.
func aliasOf(name string) string {
	if sub, ok := strings.CutPrefix(name, "pubtools-sign-"); ok {
		return sub
	}
	return ""
}

// NewRoot builds the command tree.
func NewRoot(streams IO) *cobra.Command {
	root := &cobra.Command{
		Use:           "pubtools-sign",
		Short:         "Sign containers, clear text and blobs through a signing server or cosign",
		Long:          "pubtools-sign signs release artifacts: through a signing server over AMQP 1.0 (msg-* commands),\nwith cosign (cosign-* commands), or as a daemon taking tasks from NATS (serve).",
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       version(),
	}
	root.SetOut(streams.Stdout)
	root.SetErr(streams.Stderr)
	root.AddCommand(
		newMsgContainerSign(),
		newMsgClearSign(),
		newMsgBlobSign(),
		newCosignContainerSign(),
		newCosignSignatureList(),
		newServe(),
		newSubmit(),
		newEmulator(),
		newHealthcheck(),
		newConfigCmd(),
		newDevRegistry(),
	)
	return root
}

// usageOrFailure maps an error from config or an operation to an exit.
func usageOrFailure(err error) error {
	var cfgErr *config.Error
	var inErr *signers.InputError
	if errors.As(err, &cfgErr) || errors.As(err, &inErr) || errors.Is(err, config.ErrNotFound) {
		return &exitError{code: ExitUsage, msg: err.Error()}
	}
	return &exitError{code: ExitFailed, msg: err.Error()}
}
