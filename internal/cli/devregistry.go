package cli

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"
)

// newDevRegistry serves an in-memory OCI registry for demos: cosign needs
// somewhere to push signatures.
func newDevRegistry() *cobra.Command {
	var listen, imagesOut string
	var push int
	cmd := &cobra.Command{
		Use:    "dev-registry",
		Short:  "Serve an in-memory OCI registry with random images (development and demos only)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return &exitError{code: ExitUsage, msg: err.Error()}
			}
			srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}
			go func() { _ = srv.Serve(ln) }()
			defer srv.Close()
			var lines []string
			for i := 0; i < push; i++ {
				img, err := random.Image(1024, 1)
				if err != nil {
					return usageOrFailure(err)
				}
				ref := fmt.Sprintf("%s/demo/app%d:1.%d", ln.Addr().String(), i%2, i)
				tag, err := name.NewTag(ref, name.Insecure)
				if err != nil {
					return usageOrFailure(err)
				}
				if err := remote.Write(tag, img); err != nil {
					return usageOrFailure(err)
				}
				d, _ := img.Digest()
				lines = append(lines, ref+" "+d.String())
			}
			if imagesOut != "" {
				if err := os.WriteFile(imagesOut, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
					return usageOrFailure(err)
				}
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "registry on %s with %d images\n", ln.Addr(), push)
			<-cmd.Context().Done()
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:5000", "address to serve on")
	cmd.Flags().IntVar(&push, "push", 2, "random images to push at start")
	cmd.Flags().StringVar(&imagesOut, "images-out", "", "write \"reference digest\" lines of the pushed images here")
	return cmd
}
