package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/release-engineering/pubtools-sign-go/signers"
	"github.com/release-engineering/pubtools-sign-go/signers/cosign"
)

func newCosignContainerSign() *cobra.Command {
	var f commonFlags
	var op signers.ContainerSign
	cmd := &cobra.Command{
		Use:   "cosign-container-sign",
		Short: "Sign container images with cosign and push the signatures to their registry",
		Long: "Runs cosign once per reference and signing key. References, digests and identities pair up by position;\n" +
			"without --reference each --digest must be a full repo@sha256:… reference.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := cosignSigner(cmd, &f)
			if err != nil {
				return err
			}
			op.SigningKeys, op.TaskID = f.signingKeys, f.taskID
			if op.Validate() == nil { // ContainerSign reports what Validate finds
				warnDigests(cmd, &op)
			}
			res, err := s.ContainerSign(cmd.Context(), &op)
			if err != nil {
				return usageOrFailure(err)
			}
			if !f.raw {
				return printResult(cmd.OutOrStdout(), cmd.ErrOrStderr(), res, false, "")
			}
			// Raw output is cosign's message per reference, as in the Python tool.
			if res.SignerResult.Status != signers.StatusOK {
				fmt.Fprint(cmd.ErrOrStderr(), ensureNewline(res.SignerResult.ErrorMessage))
				return errFailed
			}
			for _, o := range res.OperationResults {
				fmt.Fprint(cmd.OutOrStdout(), ensureNewline(fmt.Sprint(o)))
			}
			return nil
		},
	}
	// --task-id is optional here: the Python command lacks it, the
	// README's examples pass it; both forms work.
	f.register(cmd, false)
	fl := cmd.Flags()
	fl.StringArrayVar(&op.Digests, "digest", nil, "Digests which should be signed (repeatable; repo@digest when no --reference)")
	fl.StringArrayVar(&op.References, "reference", nil, "References which should be signed (repeatable, paired with --digest)")
	fl.StringArrayVar(&op.IdentityReferences, "identity", nil, "Identity reference recorded in the signature (repeatable, paired with --reference)")
	_ = cmd.MarkFlagRequired("digest")
	return cmd
}

func newCosignSignatureList() *cobra.Command {
	var configFile, logLevel string
	var refs []string
	cmd := &cobra.Command{
		Use:   "cosign-signature-list",
		Short: "Report whether each reference already has a cosign signature in its registry",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := cosignSigner(cmd, &commonFlags{configFile: configFile, logLevel: logLevel})
			if err != nil {
				return err
			}
			list, err := s.ExistingSignatures(cmd.Context(), refs)
			if err != nil {
				return usageOrFailure(err)
			}
			out, _ := json.Marshal(map[string]any{"signatures": list})
			fmt.Fprintln(cmd.OutOrStdout(), string(out))
			for _, st := range list {
				if st.Error != "" {
					return errFailed
				}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&refs, "reference", nil, "Image reference (repo@digest or repo:tag) to look up (repeatable)")
	fl.StringVar(&configFile, "config-file", "~/.config/pubtools-sign/conf.yaml", "path to the config file")
	fl.StringVar(&logLevel, "log-level", "INFO", "Set log level: DEBUG, INFO, WARNING or ERROR")
	_ = cmd.MarkFlagRequired("reference")
	return cmd
}

// cosignSigner reads the configuration and builds the cosign signer,
// refusing a missing section or binary as configuration mistakes.
func cosignSigner(cmd *cobra.Command, f *commonFlags) (*cosign.Signer, error) {
	cfg, log, err := f.setup(cmd)
	if err != nil {
		return nil, err
	}
	if cfg.CosignSigner == nil {
		return nil, missingSection(cfg, "cosign_signer")
	}
	s := cosign.New(cosign.Options{Config: cfg.CosignSigner, Log: log})
	if err := s.Check(cfg.Path); err != nil {
		return nil, usageOrFailure(err)
	}
	return s, nil
}
