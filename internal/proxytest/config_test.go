package proxytest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docPath is the page whose configurations the tests run.
const docPath = "../../examples/PROXIES.md"

// docBlock returns the first fenced code block of lang in the page.
func docBlock(t *testing.T, lang string) string {
	t.Helper()
	b, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)\n```" + regexp.QuoteMeta(lang) + "\n(.*?)\n```\n")
	m := re.FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s has no ```%s block", docPath, lang)
	}
	return string(m[1])
}

// replace replaces every old in s with new, and fails t if there is none:
// the page changed in a way the test must follow.
func replace(t *testing.T, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("the configuration in %s no longer has %q, which the test replaces:\n%s", docPath, old, s)
	}
	return strings.ReplaceAll(s, old, new)
}

// The site and the backend as the page names them.
const (
	docSite    = "example.com"
	docBackend = "127.0.0.1:8080"
	// site is the public name the tests use: clients connect to
	// 127.0.0.1 and ask for this host.
	site = "app.example"
)

// nginxConfig returns a whole nginx.conf for dir that holds the page's
// configuration (which goes in the http block), listening on
// 127.0.0.1:port and proxying to backend.
func nginxConfig(t *testing.T, dir string, port int, backend string, c certFiles) string {
	t.Helper()
	conf := docBlock(t, "nginx")
	conf = replace(t, conf, "listen 443 ", fmt.Sprintf("listen 127.0.0.1:%d ", port))
	conf = replace(t, conf, "server_name "+docSite+";", "server_name "+site+";")
	conf = replace(t, conf, "/etc/ssl/certs/example.com.pem", c.cert)
	conf = replace(t, conf, "/etc/ssl/private/example.com.key", c.key)
	conf = replace(t, conf, "server "+docBackend+";", "server "+backend+";")
	var head string
	if os.Geteuid() == 0 {
		// As root, nginx's workers would otherwise run as nobody, who
		// cannot write to the test's directory.
		head = "user root;\n"
	}
	temp := func(name string) string { return filepath.Join(dir, name) }
	return head + fmt.Sprintf(`worker_processes 1;
pid %s;
error_log %s info;
events { worker_connections 256; }
http {
    access_log %s;
    client_body_temp_path %s;
    proxy_temp_path %s;
    fastcgi_temp_path %s;
    uwsgi_temp_path %s;
    scgi_temp_path %s;

%s
}
`, temp("nginx.pid"), temp("error.log"), temp("access.log"),
		temp("client_body"), temp("proxy"), temp("fastcgi"), temp("uwsgi"), temp("scgi"), conf)
}

// caddyConfig returns a whole Caddyfile that holds the page's site
// block, served on 127.0.0.1:port with the test's certificate and
// proxying to backend. The site's address is the port alone, so that
// Caddy proxies a request for any host and the backend's host check is
// what refuses a spoofed one.
func caddyConfig(t *testing.T, dir string, port int, backend string, c certFiles) string {
	t.Helper()
	conf := docBlock(t, "caddyfile")
	conf = replace(t, conf, docSite+" {", fmt.Sprintf("https://:%d {\n    bind 127.0.0.1\n    tls %s %s", port, c.cert, c.key))
	conf = replace(t, conf, docBackend, backend)
	return fmt.Sprintf(`{
    admin off
    auto_https disable_redirects
    skip_install_trust
    storage file_system %s
}

%s
`, filepath.Join(dir, "caddy"), conf)
}
