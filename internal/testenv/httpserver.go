package testenv

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// HTTPServer is httptest.NewServer on a Listen port: httptest's own
// constructors bind 127.0.0.1:0, a port in the ephemeral range, even when
// the listener is swapped before Start. It stops when the test ends.
func HTTPServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := &httptest.Server{Listener: Listen(t), Config: &http.Server{Handler: h}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}
