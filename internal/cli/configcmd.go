package cli

import (
	"fmt"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/internal/redact"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Check configuration files and print the configuration reference"}
	cmd.AddCommand(&cobra.Command{
		Use:   "docs",
		Short: "Print the configuration reference (Markdown): every key, its environment variable, type, default and meaning",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(cmd.OutOrStdout(), config.Reference)
			return err
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Validate a config file (with PUBTOOLS_SIGN_* overrides) and print what it resolves to, secrets masked",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(args[0])
			if err != nil {
				return usageOrFailure(err)
			}
			maskSecrets(cfg)
			out, err := yaml.Marshal(cfg)
			if err != nil {
				return usageOrFailure(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "# %s: valid\n%s", args[0], out)
			return nil
		},
	})
	return cmd
}

// maskSecrets hides passwords (registry, NATS and broker URL userinfo)
// before printing.
func maskSecrets(cfg *config.File) {
	cfg.NATS.URL = redact.URL(cfg.NATS.URL)
	for _, m := range []*config.MsgSigner{cfg.MsgSigner, batchSection(cfg)} {
		if m == nil {
			continue
		}
		for i, b := range m.MessagingBrokers {
			m.MessagingBrokers[i] = redact.URL(b)
		}
	}
	if c := cfg.CosignSigner; c != nil {
		if c.RegistryPassword != "" {
			c.RegistryPassword = "********"
		}
		for k := range c.EnvVariables {
			c.EnvVariables[k] = "********"
		}
	}
}

func batchSection(cfg *config.File) *config.MsgSigner {
	if cfg.MsgBatchSigner == nil {
		return nil
	}
	return &cfg.MsgBatchSigner.MsgSigner
}
