package main

import (
	"errors"
	"flag"
	"net"
	"net/http"
)

// TLS. With -tls-cert and -tls-key the server speaks HTTPS, and so HTTP/2
// to browsers, which use HTTP/2 over TLS only. A local pair for trying it
// (the browser warns about a certificate it does not know):
//
//	go run "$(go env GOROOT)/src/crypto/tls/generate_cert.go" -host localhost,127.0.0.1
//
// writes cert.pem and key.pem; mkcert makes a pair the browser trusts.
var (
	tlsCert = flag.String("tls-cert", "", "TLS certificate file (PEM): with -tls-key, serve HTTPS (and HTTP/2)")
	tlsKey  = flag.String("tls-key", "", "TLS private key file (PEM), with -tls-cert")
)

// serveTLS reports whether the server speaks TLS, or an error when only
// one of -tls-cert and -tls-key is given.
func serveTLS() (bool, error) {
	if (*tlsCert == "") != (*tlsKey == "") {
		return false, errors.New("-tls-cert and -tls-key go together")
	}
	return *tlsCert != "", nil
}

// serve serves srv on ln, over TLS when -tls-cert and -tls-key say so.
func serve(srv *http.Server, ln net.Listener) error {
	if on, err := serveTLS(); err != nil || !on {
		if err != nil {
			return err
		}
		return srv.Serve(ln)
	}
	return srv.ServeTLS(ln, *tlsCert, *tlsKey)
}

// secure returns the scheme plain ("http" or "ws") with TLS when the
// server speaks it.
func secure(plain string) string {
	if on, _ := serveTLS(); on {
		return plain + "s"
	}
	return plain
}
