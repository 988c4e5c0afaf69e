// Command cosignbench measures the cosign signer against the real cosign
// binary and an in-process registry on loopback: 50 images across 10
// repositories with num_threads 1 and 10, and the wrapper's overhead over
// running cosign directly for one image. bench/run.sh runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/release-engineering/pubtools-sign-go/internal/testenv"

	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/signers"
	"github.com/release-engineering/pubtools-sign-go/signers/cosign"
)

func main() {
	bin := flag.String("cosign", "bin/cosign", "cosign binary")
	images := flag.Int("images", 50, "images to sign")
	repos := flag.Int("repos", 10, "repositories they spread over")
	flag.Parse()
	if err := run(*bin, *images, *repos); err != nil {
		fmt.Fprintln(os.Stderr, "cosignbench:", err)
		os.Exit(1)
	}
}

func run(bin string, images, repos int) error {
	// On a port below the ephemeral range (httptest.NewServer binds :0).
	port, err := testenv.FreePort()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return err
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}}
	srv.Start()
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	dir, err := os.MkdirTemp("", "cosignbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	gen := exec.Command(bin, "generate-key-pair")
	gen.Dir, gen.Env = dir, append(os.Environ(), "COSIGN_PASSWORD=")
	if out, err := gen.CombinedOutput(); err != nil {
		return fmt.Errorf("generate-key-pair: %v: %s", err, out)
	}
	key := filepath.Join(dir, "cosign.key")
	push := func(n int) (*signers.ContainerSign, error) {
		op := &signers.ContainerSign{SigningKeys: []string{key}}
		for i := 0; i < n; i++ {
			img, err := random.Image(512, 1)
			if err != nil {
				return nil, err
			}
			ref := fmt.Sprintf("%s/bench/repo%d:%d-%d", host, i%repos, n, i)
			tag, _ := name.NewTag(ref, name.Insecure)
			if err := remote.Write(tag, img); err != nil {
				return nil, err
			}
			d, _ := img.Digest()
			op.References = append(op.References, ref)
			op.Digests = append(op.Digests, d.String())
		}
		return op, nil
	}
	off := false
	cfg := &config.CosignSigner{CosignBin: bin, Timeout: "1m0s", RekorURL: "http://127.0.0.1:1", UploadTlog: &off,
		AllowHTTPRegistry: true, Retries: 1, EnvVariables: map[string]string{"COSIGN_PASSWORD": ""}}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	fmt.Printf("| cosign signer | images | repositories | num_threads | wall | images/s |\n|---|---:|---:|---:|---:|---:|\n")
	for _, threads := range []int{1, 10} {
		op, err := push(images)
		if err != nil {
			return err
		}
		c := *cfg
		c.NumThreads = threads
		start := time.Now()
		res, err := cosign.New(cosign.Options{Config: &c, Log: quiet}).ContainerSign(context.Background(), op)
		wall := time.Since(start)
		if err != nil || res.SignerResult.Status != "ok" {
			return fmt.Errorf("sign: %v %s", err, res.SignerResult.ErrorMessage)
		}
		fmt.Printf("| signer | %d | %d | %d | %s | %.1f |\n", images, repos, threads, wall.Round(time.Millisecond), float64(images)/wall.Seconds())
	}

	// One image: cosign directly vs through the signer (best of 5 each).
	best := func(f func() error) (time.Duration, error) {
		b := time.Hour
		for i := 0; i < 5; i++ {
			start := time.Now()
			if err := f(); err != nil {
				return 0, err
			}
			b = min(b, time.Since(start))
		}
		return b, nil
	}
	direct, err := best(func() error {
		op, err := push(1)
		if err != nil {
			return err
		}
		repo, _, _ := strings.Cut(op.References[0], ":"+strings.SplitN(op.References[0], ":", 3)[2])
		cmd := exec.Command(bin, "-t", "1m0s", "sign", "-y", "--key", key, "--allow-http-registry=true", "--tlog-upload=false", repo+"@"+op.Digests[0])
		cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	if err != nil {
		return err
	}
	c := *cfg
	c.NumThreads = 1
	wrapped, err := best(func() error {
		op, err := push(1)
		if err != nil {
			return err
		}
		res, err := cosign.New(cosign.Options{Config: &c, Log: quiet}).ContainerSign(context.Background(), op)
		if err == nil && res.SignerResult.Status != "ok" {
			err = fmt.Errorf("%s", res.SignerResult.ErrorMessage)
		}
		return err
	})
	if err != nil {
		return err
	}
	fmt.Printf("\none image, best of 5: cosign directly %s, through the signer %s (overhead %s)\n",
		direct.Round(time.Millisecond), wrapped.Round(time.Millisecond), (wrapped - direct).Round(time.Millisecond))
	return nil
}
