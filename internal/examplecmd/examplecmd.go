// Package examplecmd holds what the examples' commands share beside the
// library: the address to open, the -allowed-hosts and -trusted-proxies
// lists and the client address behind such a proxy, and the -tls-cert and -tls-key flags. With both of those, a
// server speaks HTTPS, and so HTTP/2 to browsers,
// which use HTTP/2 over TLS only. A local pair for trying it (the browser
// warns about a certificate it does not know):
//
//	go run "$(go env GOROOT)/src/crypto/tls/generate_cert.go" -host localhost,127.0.0.1
//
// writes cert.pem and key.pem; mkcert makes a pair the browser trusts.
package examplecmd

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
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

// ListenURL returns the address to open for ln, which listens on addr:
// its host, or localhost when addr names every interface, with the port
// ln got.
func ListenURL(scheme, addr string, ln net.Listener) string {
	host, _, _ := net.SplitHostPort(addr)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// Hosts returns the comma-separated host patterns of -allowed-hosts.
func Hosts(s string) []string {
	var hosts []string
	for h := range strings.SplitSeq(s, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// Prefixes returns the comma-separated addresses and prefixes of
// -trusted-proxies: an address alone is a prefix of one address.
func Prefixes(s string) ([]netip.Prefix, error) {
	var ps []netip.Prefix
	for _, f := range Hosts(s) {
		if a, err := netip.ParseAddr(f); err == nil {
			ps = append(ps, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("-trusted-proxies: %q is not an address or a prefix", f)
		}
		ps = append(ps, p.Masked())
	}
	return ps, nil
}

// ClientAddr returns the address the client of r counts under for a
// server's bounds per address: the host of r.RemoteAddr or, for a request
// from one of trusted (the server's own reverse proxies, -trusted-proxies),
// the address that proxy appended to X-Forwarded-For, its last entry.
// Behind a proxy every request comes from the proxy's address: without it,
// the whole site would share one address's bounds. The header of any other
// client is not read: anyone can send it.
func ClientAddr(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !slices.ContainsFunc(trusted, func(p netip.Prefix) bool { return p.Contains(ip.Unmap()) }) {
		return host
	}
	fields := r.Header.Values("X-Forwarded-For")
	if len(fields) == 0 {
		return host
	}
	last := fields[len(fields)-1]
	last = strings.TrimSpace(last[strings.LastIndexByte(last, ',')+1:])
	if client, err := netip.ParseAddr(last); err == nil {
		return client.Unmap().String()
	}
	return host
}
