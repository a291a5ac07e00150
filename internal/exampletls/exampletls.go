// Package exampletls gives the examples their -tls-cert and -tls-key
// flags. With both, a server speaks HTTPS, and so HTTP/2 to browsers,
// which use HTTP/2 over TLS only. A local pair for trying it (the browser
// warns about a certificate it does not know):
//
//	go run "$(go env GOROOT)/src/crypto/tls/generate_cert.go" -host localhost,127.0.0.1
//
// writes cert.pem and key.pem; mkcert makes a pair the browser trusts.
package exampletls

import (
	"errors"
	"flag"
	"net"
	"net/http"
)

// The flags, on the command line's flag set.
var (
	Cert = flag.String("tls-cert", "", "TLS certificate file (PEM): with -tls-key, serve HTTPS (and HTTP/2)")
	Key  = flag.String("tls-key", "", "TLS private key file (PEM), with -tls-cert")
)

// On reports whether the server speaks TLS, or an error when only one of
// -tls-cert and -tls-key is given.
func On() (bool, error) {
	if (*Cert == "") != (*Key == "") {
		return false, errors.New("-tls-cert and -tls-key go together")
	}
	return *Cert != "", nil
}

// Serve serves srv on ln, over TLS when -tls-cert and -tls-key say so.
func Serve(srv *http.Server, ln net.Listener) error {
	on, err := On()
	switch {
	case err != nil:
		return err
	case on:
		return srv.ServeTLS(ln, *Cert, *Key)
	}
	return srv.Serve(ln)
}

// Scheme returns the scheme plain ("http" or "ws") with TLS when the
// server speaks it.
func Scheme(plain string) string {
	if on, _ := On(); on {
		return plain + "s"
	}
	return plain
}
