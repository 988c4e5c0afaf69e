package cli

import (
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

// newHealthcheck probes the daemon's HTTP endpoint: the container image
// has no shell or curl for a HEALTHCHECK.
func newHealthcheck() *cobra.Command {
	var url string
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 if the daemon's health endpoint answers 200 (for container HEALTHCHECKs)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client := &http.Client{Timeout: 3 * time.Second}
			resp, err := client.Get(url)
			if err != nil {
				return &exitError{code: ExitFailed, msg: err.Error()}
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return &exitError{code: ExitFailed, msg: fmt.Sprintf("%s: %s", url, resp.Status)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", "http://127.0.0.1:9464/healthz", "endpoint to probe (/healthz or /readyz)")
	return cmd
}
