package cli

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/internal/pyjson"
	"github.com/release-engineering/pubtools-sign-go/signers"
	"github.com/release-engineering/pubtools-sign-go/signers/msg"
)

// msgJob is one messaging command's operation, ready to run.
type msgJob struct {
	flags    *commonFlags
	batch    bool
	rawField string
	// requester is --requester: without it the certificate must name one.
	requester string
	// skeleton is the result printed when the signer cannot even connect.
	skeleton func() *signers.Result
	validate func() error
	sign     func(ctx context.Context, s *msg.Signer, chunkSize int) (*signers.Result, error)
}

func (j *msgJob) run(cmd *cobra.Command) error {
	leanGC()
	cfg, log, err := j.flags.setup(cmd)
	if err != nil {
		return err
	}
	section, sectionCfg, chunk := "msg_signer", cfg.MsgSigner, 0
	if j.batch {
		section = "msg_batch_signer"
		if cfg.MsgBatchSigner != nil {
			sectionCfg, chunk = &cfg.MsgBatchSigner.MsgSigner, cfg.MsgBatchSigner.ChunkSize
		} else {
			sectionCfg = nil
		}
	}
	if sectionCfg == nil {
		return missingSection(cfg, section)
	}
	if err := j.validate(); err != nil {
		return usageOrFailure(err)
	}
	// Without a requester the operation cannot be named: a usage error,
	// whether or not a broker is reachable.
	if j.requester == "" {
		if creator, _, err := msg.Credentials(sectionCfg, cfg.Path, section); err == nil && creator == "" {
			return &exitError{code: ExitUsage, msg: msg.ErrNoRequester.Error()}
		}
	}
	ctx := cmd.Context()
	conn, err := msg.Connect(ctx, sectionCfg, cfg.Path, section, log)
	if err != nil {
		var cfgErr *config.Error
		if errors.As(err, &cfgErr) {
			return usageOrFailure(err)
		}
		res := j.skeleton()
		res.Fail(err.Error() + "\n")
		return printResult(cmd.OutOrStdout(), cmd.ErrOrStderr(), res, j.flags.raw, j.rawField)
	}
	defer conn.Close()
	signer := conn.Signer(msg.Options{Config: sectionCfg, Log: log})
	res, err := j.sign(ctx, signer, chunk)
	if err != nil {
		if errors.Is(err, msg.ErrNoRequester) {
			return &exitError{code: ExitUsage, msg: err.Error()}
		}
		return usageOrFailure(err)
	}
	defer res.Close()
	return printResult(cmd.OutOrStdout(), cmd.ErrOrStderr(), res, j.flags.raw, j.rawField)
}

// leanGC halves the heap headroom (GOGC=50) unless GOGC is set: signing
// steps run in memory-limited pipeline containers and wait on the signing
// server, not the CPU, so collecting more often is cheap (10,000
// references: peak RSS ~33-41 -> ~30 MiB, a few % more CPU).
func leanGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
}

func skeletonOf(op pyjson.Object, keys []string, keysField string) func() *signers.Result {
	return func() *signers.Result {
		return &signers.Result{Operation: op, SigningKeys: keys, KeysField: keysField}
	}
}

func signerTypeFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "signer-type", "single", "Signer type: single, or batch (uses the msg_batch_signer section)")
}

func checkSignerType(t string) error {
	if t != "single" && t != "batch" {
		return &exitError{code: ExitUsage, msg: fmt.Sprintf("--signer-type: want single or batch, got %q", t)}
	}
	return nil
}

func newMsgContainerSign() *cobra.Command {
	var f commonFlags
	var op signers.ContainerSign
	var signerType string
	cmd := &cobra.Command{
		Use:   "msg-container-sign",
		Short: "Sign container images (reference + digest pairs) through the signing server",
		Long: "Sends one signing request per reference/digest pair and signing key to the signing server over AMQP 1.0\n" +
			"and prints the replies. References and digests pair up by position.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkSignerType(signerType); err != nil {
				return err
			}
			op.SigningKeys, op.TaskID = f.signingKeys, f.taskID
			job := &msgJob{
				flags: &f, batch: signerType == "batch", rawField: "signed_claim", requester: op.Requester,
				skeleton: skeletonOf(op.Dict(), op.SigningKeys, ""),
				validate: func() error {
					if err := op.Validate(); err != nil {
						return err
					}
					warnDigests(cmd, &op) // once the command is sure to run
					return nil
				},
				sign: func(ctx context.Context, s *msg.Signer, chunk int) (*signers.Result, error) {
					if signerType == "batch" {
						return s.BatchContainerSign(ctx, &op, chunk)
					}
					return s.ContainerSign(ctx, &op)
				},
			}
			return job.run(cmd)
		},
	}
	f.register(cmd, true)
	fl := cmd.Flags()
	fl.StringArrayVar(&op.SigningKeyNames, "signing-key-name", nil, "signing key name (repeatable, one per --signing-key)")
	fl.StringArrayVar(&op.Digests, "digest", nil, "Digests which should be signed (repeatable, paired with --reference)")
	fl.StringArrayVar(&op.References, "reference", nil, "References which should be signed (repeatable, paired with --digest)")
	fl.StringVar(&op.Requester, "requester", "", "Use this requester instead one from certificate file.")
	signerTypeFlag(cmd, &signerType)
	_ = cmd.MarkFlagRequired("digest")
	_ = cmd.MarkFlagRequired("reference")
	return cmd
}

func newMsgClearSign() *cobra.Command {
	var f commonFlags
	var op signers.ClearSign
	cmd := &cobra.Command{
		Use:   "msg-clear-sign [flags] INPUT...",
		Short: "Clearsign texts through the signing server",
		Long:  "Clearsigns each INPUT with each signing key. An INPUT of the form @path is read from that file.",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			inputs, err := readInputs(args)
			if err != nil {
				return err
			}
			op.Inputs, op.SigningKeys, op.TaskID = inputs, f.signingKeys, f.taskID
			job := &msgJob{
				flags: &f, rawField: "signed_data", requester: op.Requester,
				skeleton: skeletonOf(op.Dict(), op.SigningKeys, ""),
				validate: op.Validate,
				sign: func(ctx context.Context, s *msg.Signer, _ int) (*signers.Result, error) {
					return s.ClearSign(ctx, &op)
				},
			}
			return job.run(cmd)
		},
	}
	f.register(cmd, true)
	cmd.Flags().StringVar(&op.Repo, "repo", "", "Repository reference")
	cmd.Flags().StringVar(&op.Requester, "requester", "", "Use this requester instead one from certificate file.")
	return cmd
}

// warnDigests tells the user about digests of an unusual length (test
// digests such as sha256:0000): they are signed as given, as the Python
// tool does, but a truncated real digest is worth a look.
func warnDigests(cmd *cobra.Command, op *signers.ContainerSign) {
	for _, w := range op.DigestWarnings() {
		fmt.Fprintln(cmd.ErrOrStderr(), "warning: "+w)
	}
}

// readInputs resolves @path arguments to the files' text.
func readInputs(args []string) ([]string, error) {
	out := make([]string, len(args))
	for i, a := range args {
		path, isFile := strings.CutPrefix(a, "@")
		if !isFile {
			out[i] = a
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, &exitError{code: ExitUsage, msg: fmt.Sprintf("input %s: %v", a, err)}
		}
		out[i] = string(data)
	}
	return out, nil
}

func newMsgBlobSign() *cobra.Command {
	var f commonFlags
	var op signers.BlobSign
	var blobFiles []string
	var signerType string
	cmd := &cobra.Command{
		Use:   "msg-blob-sign",
		Short: "Sign files (detached signatures) through the signing server",
		Long:  "Sends the base64 of each --blob-file to the signing server, once per signing key.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkSignerType(signerType); err != nil {
				return err
			}
			if signerType == "batch" {
				return &exitError{code: ExitUsage, msg: "--signer-type batch: batch signer does not support blob signing"}
			}
			op.Blobs = nil
			for _, p := range blobFiles {
				data, err := os.ReadFile(p)
				if err != nil {
					return &exitError{code: ExitUsage, msg: fmt.Sprintf("--blob-file %s: %v", p, err)}
				}
				op.Blobs = append(op.Blobs, base64.StdEncoding.EncodeToString(data))
			}
			op.SigningKeys, op.TaskID = f.signingKeys, f.taskID
			job := &msgJob{
				flags: &f, rawField: "signed_payload", requester: op.Requester,
				skeleton: skeletonOf(op.Dict(), op.SigningKeys, ""),
				validate: op.Validate,
				sign: func(ctx context.Context, s *msg.Signer, _ int) (*signers.Result, error) {
					return s.BlobSign(ctx, &op)
				},
			}
			return job.run(cmd)
		},
	}
	f.register(cmd, true)
	fl := cmd.Flags()
	fl.StringArrayVar(&op.SigningKeyNames, "signing-key-name", nil, "signing key name (repeatable, one per --signing-key)")
	fl.StringArrayVar(&blobFiles, "blob-file", nil, "Blob files to sign (paths to files whose contents will be signed; repeatable)")
	fl.StringVar(&op.Requester, "requester", "", "Use this requester instead of the one from the certificate file.")
	signerTypeFlag(cmd, &signerType)
	_ = cmd.MarkFlagRequired("blob-file")
	return cmd
}
