package main

import (
	"crypto/tls"
	"net/http"
	"testing"

	"github.com/realtime-go/realtime/internal/examplecmd"
	"github.com/realtime-go/realtime/internal/testutil"
)

// withTLS points -tls-cert and -tls-key at a new pair for 127.0.0.1 and
// localhost until the test ends, and returns the TLS configuration of a
// client that trusts it.
func withTLS(t *testing.T) *tls.Config {
	t.Helper()
	certFile, keyFile, client := testutil.TLSPair(t)
	oldCert, oldKey := *examplecmd.Cert, *examplecmd.Key
	*examplecmd.Cert, *examplecmd.Key = certFile, keyFile
	t.Cleanup(func() { *examplecmd.Cert, *examplecmd.Key = oldCert, oldKey })
	return client
}

// serveOnLoopback serves h as main does on 127.0.0.1 until the test ends,
// and returns the listener's address.
func serveOnLoopback(t *testing.T, h http.Handler) string {
	return testutil.ServeOnLoopback(t, h, examplecmd.Serve)
}
