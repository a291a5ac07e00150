package proxytest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/realtime-go/realtime/sse"
	"github.com/realtime-go/realtime/ws"
)

// waitBound bounds every wait of the tests. It only catches hangs: the
// events waited for come in milliseconds on an idle machine.
const waitBound = 30 * time.Second

// certFiles are the paths of a PEM certificate and its key.
type certFiles struct{ cert, key string }

// newCert makes a self-signed certificate for site and 127.0.0.1 in dir
// and returns its files and a pool that trusts it.
func newCert(t *testing.T, dir string) (certFiles, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: site},
		DNSNames:              []string{site},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c := certFiles{cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem")}
	if err := os.WriteFile(c.cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return c, pool
}

// freePort returns a port of 127.0.0.1 that nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// A backend is the app behind the proxy: a Broker at /events and a Hub at
// /ws on a fixed address of 127.0.0.1, which answer to the site's name
// (AllowedHosts), as the page says an app on loopback must. It can be
// stopped and started again on the same address, keeping its history as
// a restarted server does.
type backend struct {
	t     *testing.T
	addr  string
	log   *lockedBuffer
	hosts []string // AllowedHosts

	mu     sync.Mutex
	broker *sse.Broker
	hub    *ws.Hub
	srv    *http.Server
	served chan error
}

func startBackend(t *testing.T) *backend { return startBackendAllowing(t, allowedHosts) }

// startBackendAllowing starts a backend whose AllowedHosts is hosts.
func startBackendAllowing(t *testing.T, hosts []string) *backend {
	b := &backend{t: t, addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), log: &lockedBuffer{}, hosts: hosts}
	b.start(nil, nil)
	t.Cleanup(func() { b.stop() })
	return b
}

// allowedHosts is what the backend answers to: the site, at any port.
var allowedHosts = []string{site + ":*"}

func (b *backend) start(sseHistory, wsHistory []byte) {
	t := b.t
	t.Helper()
	logger := slog.New(slog.NewTextHandler(b.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	broker := sse.NewBroker(sse.BrokerOptions{AllowedHosts: b.hosts, Logger: logger})
	hub := ws.NewHub(ws.HubOptions{Conn: ws.AcceptOptions{AllowedHosts: b.hosts, Logger: logger}})
	if sseHistory != nil {
		if err := broker.LoadHistory(bytes.NewReader(sseHistory)); err != nil {
			t.Fatalf("LoadHistory: %v", err)
		}
		if err := hub.LoadHistory(bytes.NewReader(wsHistory)); err != nil {
			t.Fatalf("LoadHistory: %v", err)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/events", broker)
	mux.Handle("/ws", hub)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	srv.RegisterOnShutdown(func() { broker.Shutdown(context.Background()) })
	srv.RegisterOnShutdown(func() { hub.Shutdown(context.Background()) })
	var ln net.Listener
	var err error
	// The address was the backend's a moment ago; a socket of the last
	// run may still hold it briefly.
	for deadline := time.Now().Add(waitBound); ; time.Sleep(50 * time.Millisecond) {
		if ln, err = net.Listen("tcp", b.addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("backend: listen on %s again: %v", b.addr, err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	b.mu.Lock()
	b.broker, b.hub, b.srv, b.served = broker, hub, srv, served
	b.mu.Unlock()
}

// stop shuts the backend down as a server that restarts does (its streams
// and connections end) and returns its histories.
func (b *backend) stop() (sseHistory, wsHistory []byte) {
	b.mu.Lock()
	srv, served, broker, hub := b.srv, b.served, b.broker, b.hub
	b.srv = nil
	b.mu.Unlock()
	if srv == nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		b.t.Errorf("backend: Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		b.t.Errorf("backend: Serve: %v", err)
	}
	broker.Shutdown(ctx)
	hub.Shutdown(ctx)
	var sb, wb bytes.Buffer
	if err := broker.SaveHistory(&sb); err != nil {
		b.t.Errorf("SaveHistory: %v", err)
	}
	if err := hub.SaveHistory(&wb); err != nil {
		b.t.Errorf("SaveHistory: %v", err)
	}
	return sb.Bytes(), wb.Bytes()
}

func (b *backend) current() (*sse.Broker, *ws.Hub) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.broker, b.hub
}

// lockedBuffer is a log destination safe for concurrent writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// A proxy is nginx or Caddy running the page's configuration on
// 127.0.0.1:port in front of a backend.
type proxy struct {
	name string
	port int
	pool *x509.CertPool
}

// binary returns the path of the program name, or the one the environment
// variable env names, and fails t when there is none.
func binary(t *testing.T, name, env string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found (install Debian's %s, as .ci/run does, or set %s): %v", name, name, env, err)
	}
	return p
}

// startProxy starts the proxy named name ("nginx" or "caddy") with the
// page's configuration in front of backend, and waits until it accepts
// connections.
func startProxy(t *testing.T, name string, backend string) *proxy {
	t.Helper()
	dir := t.TempDir()
	certs, pool := newCert(t, dir)
	port := freePort(t)
	var cmd *exec.Cmd
	var logFile string
	switch name {
	case "nginx":
		conf := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(conf, []byte(nginxConfig(t, dir, port, backend, certs)), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command(binary(t, "nginx", "NGINX"), "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
		logFile = filepath.Join(dir, "error.log")
	case "caddy":
		conf := filepath.Join(dir, "Caddyfile")
		if err := os.WriteFile(conf, []byte(caddyConfig(t, dir, port, backend, certs)), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command(binary(t, "caddy", "CADDY"), "run", "--config", conf, "--adapter", "caddyfile")
		cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
		logFile = filepath.Join(dir, "caddy.log")
	default:
		t.Fatalf("no proxy %q", name)
	}
	out, err := os.Create(filepath.Join(dir, "output.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	dump := func() {
		for _, f := range []string{out.Name(), logFile} {
			if b, err := os.ReadFile(f); err == nil && len(b) > 0 {
				t.Logf("%s %s:\n%s", name, filepath.Base(f), tail(b, 4000))
			}
		}
	}
	t.Cleanup(func() {
		// The process group: nginx's master and its worker.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		out.Close()
		if t.Failed() {
			dump()
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(waitBound); ; time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-exited:
			exited <- err
			dump()
			t.Fatalf("%s exited at start (%v): the configuration of %s does not load", name, err, docPath)
		default:
		}
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			dump()
			t.Fatalf("%s does not accept connections on %s after %v", name, addr, waitBound)
		}
	}
	return &proxy{name: name, port: port, pool: pool}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// hostPort is host with the proxy's port.
func (p *proxy) hostPort(host string) string { return fmt.Sprintf("%s:%d", host, p.port) }

// url is the https URL of path on the site through the proxy.
func (p *proxy) url(path string) string { return "https://" + p.hostPort(site) + path }

// tlsConfig trusts the proxy's certificate for the site's name.
func (p *proxy) tlsConfig(protos ...string) *tls.Config {
	return &tls.Config{RootCAs: p.pool, ServerName: site, NextProtos: protos}
}

// dial connects to the proxy, whatever host an address names.
func (p *proxy) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", p.port))
}

// client returns an HTTP client of the proxy over HTTP/2 (h2) or
// HTTP/1.1.
func (p *proxy) client(t *testing.T, h2 bool) *http.Client {
	tr := &http.Transport{DialContext: p.dial, ForceAttemptHTTP2: h2}
	if h2 {
		tr.TLSClientConfig = p.tlsConfig("h2", "http/1.1")
	} else {
		tr.TLSClientConfig = p.tlsConfig("http/1.1")
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// dialTLS opens a TLS connection to the proxy for HTTP/1.1 (WebSocket
// handshakes).
func (p *proxy) dialTLS(ctx context.Context) (*tls.Conn, error) {
	nc, err := p.dial(ctx, "", "")
	if err != nil {
		return nil, err
	}
	tc := tls.Client(nc, p.tlsConfig("http/1.1"))
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return tc, nil
}

// contains reports whether the backend's log has s.
func (b *backend) logged(s string) bool { return strings.Contains(b.log.String(), s) }
