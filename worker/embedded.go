package worker

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Embedded is an in-process NATS server with JetStream, for the default
// single-command setup and for tests.
type Embedded struct {
	Server *server.Server
	URL    string
}

// StartEmbedded starts a server on listen (host:port; port 0 picks one)
// with JetStream data in dataDir.
func StartEmbedded(listen, dataDir string) (*Embedded, error) {
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("nats.embedded_listen %q: %w", listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("nats.embedded_listen %q: bad port", listen)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("nats.data_dir: %w", err)
	}
	s, err := server.NewServer(&server.Options{
		ServerName: "pubtools-sign-embedded", Host: host, Port: port,
		JetStream: true, StoreDir: dataDir, NoSigs: true, NoLog: true,
		// An envelope carries every reply (~1.5 KB per container
		// reference): NATS's 1 MB default stops at ~650 references.
		MaxPayload: EmbeddedMaxPayload,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded NATS server: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("embedded NATS server did not start on %s (port in use?)", listen)
	}
	return &Embedded{Server: s, URL: s.ClientURL()}, nil
}

// EmbeddedMaxPayload is the embedded server's max_payload: room for the
// envelope of a task of ~5,000 container references. An external server
// needs the same (max_payload in its configuration).
const EmbeddedMaxPayload = 8 << 20

// Stop shuts the server down and waits for it.
func (e *Embedded) Stop() {
	e.Server.Shutdown()
	e.Server.WaitForShutdown()
}
