package reliability

import (
	"fmt"
	"go/constant"
	"go/importer"
	"go/token"
	"go/types"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/realtime-go/realtime/sse"
	"github.com/realtime-go/realtime/ws"
)

// The shape of the two packages is compared on their type-checked source:
// every name that both export, every field of their options and every
// method of their shared types. What must differ is listed here with the
// reason; anything else that differs fails the test.
var (
	// differs lists the names both packages export that may differ, in
	// "Name" or "Type.Field" or "Type.Method" form.
	differs = map[string]string{
		"Gap.ID":         "a ws gap notice carries the ID the history resumes after; an SSE gap event carries it in its id: line",
		"Stats.Received": "WebSocket clients send messages; SSE clients cannot",
		"Record.Event":   "a Record holds what was published: an sse.Event, or a ws message's type and data",
		"Record.Type":    "as Record.Event",
		"Record.Data":    "as Record.Event",
	}
	// optionsDiffer lists the fields of sse.BrokerOptions and ws.HubOptions
	// (with ws.AcceptOptions, its Conn) that only one has, or that have
	// different types.
	optionsDiffer = map[string]string{
		"OnConnect": "a stream is its request (OnConnect(r, topics)); a connection is a *ws.Member that outlives its request (OnConnect(m, r))",
		"OnClose":   "as OnConnect: the stream's request, the connection's *ws.Member",
		"OnMessage": "only WebSocket clients send messages",
		"Conn":      "a Hub's connections take the same AcceptOptions as Accept, which has no Broker",
		"Heartbeat": "SSE keeps a stream alive with comments; WebSocket with pings (PingInterval)",
		"Retry":     "the SSE reconnection time sent to EventSource; ws/client.js has its own backoff",
		"TakeOver":  "WebSocket connections are always taken over; SSE streams stay in their handlers unless asked",
		// AcceptOptions' own fields: the WebSocket handshake and framing.
		"OriginPatterns":     "an EventSource cannot read another origin's stream without CORS; a WebSocket can, so ws checks Origin",
		"Subprotocols":       "WebSocket handshake only",
		"ReadLimit":          "only WebSocket clients send messages",
		"PingInterval":       "WebSocket keep-alive (SSE: Heartbeat)",
		"SendBuffer":         "only a WebSocket Conn has direct sends (Send) beside the hub's messages",
		"DisableCompression": "permessage-deflate is WebSocket's; SSE is compressed by middleware if at all",
	}
)

// qualifier writes types of sse and ws unqualified, so that sse.Gap and
// ws.Gap print alike.
func qualifier(p *types.Package) string {
	if p.Name() == "sse" || p.Name() == "ws" {
		return ""
	}
	return p.Name()
}

func typeString(t types.Type) string { return types.TypeString(t, qualifier) }

// fields returns the exported fields of the struct type named name in p,
// with those of embedded-by-name option structs (ws.HubOptions.Conn)
// merged in when merge names them.
func fields(t *testing.T, p *types.Package, name string, merge ...string) map[string]*types.Var {
	t.Helper()
	obj := p.Scope().Lookup(name)
	if obj == nil {
		t.Fatalf("%s.%s not found", p.Name(), name)
	}
	st, ok := obj.Type().Underlying().(*types.Struct)
	if !ok {
		t.Fatalf("%s.%s is not a struct", p.Name(), name)
	}
	out := map[string]*types.Var{}
	for i := range st.NumFields() {
		f := st.Field(i)
		if !f.Exported() {
			continue
		}
		out[f.Name()] = f
		if slices.Contains(merge, f.Name()) {
			named, _ := f.Type().(*types.Named)
			if named == nil {
				t.Fatalf("%s.%s.%s is not a named type", p.Name(), name, f.Name())
			}
			for k, v := range fields(t, named.Obj().Pkg(), named.Obj().Name()) {
				out[k] = v
			}
		}
	}
	return out
}

// exportData returns a lookup of the export data the go command compiled
// for pkgs and their dependencies (go list -export): type-checking them
// all from source again takes minutes under the race detector.
func exportData(t *testing.T, pkgs ...string) importer.Lookup {
	t.Helper()
	args := append([]string{"list", "-export", "-deps", "-f", "{{.ImportPath}}\t{{.Export}}"}, pkgs...)
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		t.Fatalf("go list -export: %v", err)
	}
	files := map[string]string{}
	for line := range strings.Lines(string(out)) {
		path, file, _ := strings.Cut(strings.TrimSpace(line), "\t")
		files[path] = file
	}
	return func(path string) (io.ReadCloser, error) {
		file := files[path]
		if file == "" {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(file)
	}
}

// TestOneAPIShape: the same thing has the same name, type and default in
// package sse and package ws, so a user who learned one knows the other.
func TestOneAPIShape(t *testing.T) {
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", exportData(t, "github.com/realtime-go/realtime/sse", "github.com/realtime-go/realtime/ws"))
	load := func(path string) *types.Package {
		p, err := imp.Import(path)
		if err != nil {
			t.Fatalf("type-checking %s: %v", path, err)
		}
		return p
	}
	ssePkg := load("github.com/realtime-go/realtime/sse")
	wsPkg := load("github.com/realtime-go/realtime/ws")
	used := map[string]bool{}
	differ := func(key, format string, args ...any) {
		if _, ok := differs[key]; ok {
			used[key] = true
			return
		}
		t.Errorf(key+": "+format, args...)
	}

	shared := 0
	for _, name := range ssePkg.Scope().Names() {
		a := ssePkg.Scope().Lookup(name)
		b := wsPkg.Scope().Lookup(name)
		if !a.Exported() || b == nil {
			continue
		}
		shared++
		switch a := a.(type) {
		case *types.Const:
			bc, ok := b.(*types.Const)
			if !ok || !constant.Compare(a.Val(), token.EQL, bc.Val()) || !types.Identical(a.Type(), bc.Type()) {
				differ(name, "sse has %v (%s), ws has %v", a.Val(), a.Type(), b)
			}
		case *types.Var:
			if bv, ok := b.(*types.Var); !ok || typeString(a.Type()) != typeString(bv.Type()) {
				differ(name, "sse has a var of type %s, ws has %v", typeString(a.Type()), b)
			}
		case *types.Func:
			if bf, ok := b.(*types.Func); !ok || typeString(a.Type()) != typeString(bf.Type()) {
				differ(name, "sse has %s, ws has %v", typeString(a.Type()), b)
			}
		case *types.TypeName:
			bt, ok := b.(*types.TypeName)
			if !ok {
				differ(name, "a type in sse, %v in ws", b)
				continue
			}
			compareTypes(name, a, bt, differ)
		}
	}
	if shared < 5 {
		t.Fatalf("only %d names shared by sse and ws: the comparison is not seeing the packages", shared)
	}

	// The options: BrokerOptions against HubOptions with its Conn.
	bo := fields(t, ssePkg, "BrokerOptions")
	ho := fields(t, wsPkg, "HubOptions", "Conn")
	names := map[string]bool{}
	for n := range bo {
		names[n] = true
	}
	for n := range ho {
		names[n] = true
	}
	for n := range names {
		a, b := bo[n], ho[n]
		if a != nil && b != nil && typeString(a.Type()) == typeString(b.Type()) {
			continue
		}
		if _, ok := optionsDiffer[n]; ok {
			used["options:"+n] = true
			continue
		}
		switch {
		case a == nil:
			t.Errorf("option %s: ws has it (%s), sse.BrokerOptions does not", n, typeString(b.Type()))
		case b == nil:
			t.Errorf("option %s: sse has it (%s), ws.HubOptions does not", n, typeString(a.Type()))
		default:
			t.Errorf("option %s: sse %s, ws %s", n, typeString(a.Type()), typeString(b.Type()))
		}
	}
	// A listed difference that no longer differs is a stale excuse.
	for n := range optionsDiffer {
		if !used["options:"+n] {
			t.Errorf("optionsDiffer lists %s, which no longer differs or no longer exists: remove it", n)
		}
	}
	for n, why := range differs {
		if why == "" {
			t.Errorf("differs lists %s without a reason", n)
		}
		if !used[n] {
			t.Errorf("differs lists %s, which no longer differs or no longer exists: remove it", n)
		}
	}
}

// compareTypes compares two types of the same name: their underlying
// types' fields, and their methods.
func compareTypes(name string, a, b *types.TypeName, differ func(key, format string, args ...any)) {
	as, aok := a.Type().Underlying().(*types.Struct)
	bs, bok := b.Type().Underlying().(*types.Struct)
	switch {
	case aok && bok:
		af, bf := map[string]*types.Var{}, map[string]*types.Var{}
		for i := range as.NumFields() {
			if f := as.Field(i); f.Exported() {
				af[f.Name()] = f
			}
		}
		for i := range bs.NumFields() {
			if f := bs.Field(i); f.Exported() {
				bf[f.Name()] = f
			}
		}
		for n, f := range af {
			if g := bf[n]; g == nil || typeString(f.Type()) != typeString(g.Type()) {
				differ(name+"."+n, "sse's field %s %s has no twin in ws", n, typeString(f.Type()))
			}
		}
		for n, g := range bf {
			if af[n] == nil {
				differ(name+"."+n, "ws's field %s %s has no twin in sse", n, typeString(g.Type()))
			}
		}
		for i := range as.NumFields() {
			if i < bs.NumFields() && as.Field(i).Name() != bs.Field(i).Name() && af[bs.Field(i).Name()] != nil {
				differ(name+".order", "fields in another order: sse %s, ws %s", as.Field(i).Name(), bs.Field(i).Name())
				break
			}
		}
	case typeString(a.Type().Underlying()) != typeString(b.Type().Underlying()):
		differ(name, "sse's is %s, ws's %s", typeString(a.Type().Underlying()), typeString(b.Type().Underlying()))
	}
	methods := func(tn *types.TypeName) map[string]string {
		out := map[string]string{}
		ms := types.NewMethodSet(types.NewPointer(tn.Type()))
		for i := range ms.Len() {
			if m := ms.At(i).Obj(); m.Exported() {
				out[m.Name()] = typeString(m.Type())
			}
		}
		return out
	}
	am, bm := methods(a), methods(b)
	for n, sig := range am {
		if bm[n] != sig {
			differ(name+"."+n, "sse's method %s%s; ws's %q", n, strings.TrimPrefix(sig, "func"), bm[n])
		}
	}
	for n := range bm {
		if _, ok := am[n]; !ok {
			differ(name+"."+n, "ws's method %s has no twin in sse", n)
		}
	}
}

// TestOneRefusalShape: a Broker and a Hub answer the same bad request with
// the same status and the same words, and never with the hub's own. (A
// request with no topic differs on purpose: an SSE stream cannot add
// topics later, so sse refuses it with 400; a WebSocket connection can
// Join, so ws accepts it.)
func TestOneRefusalShape(t *testing.T) {
	broker := sse.NewBroker(sse.BrokerOptions{MaxTopics: 2})
	defer broker.Shutdown(t.Context())
	hub := ws.NewHub(ws.HubOptions{MaxTopics: 2})
	defer hub.Shutdown(t.Context())
	bs, hs := httptest.NewServer(broker), httptest.NewServer(hub)
	defer bs.Close()
	defer hs.Close()
	// The timeout only catches a server that streams instead of refusing.
	client := &http.Client{Timeout: waitTimeout}
	get := func(base, target, host string, upgrade bool) (int, string) {
		t.Helper()
		r, err := http.NewRequest(http.MethodGet, base+target, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Host = host
		if upgrade {
			r.Header.Set("Connection", "Upgrade")
			r.Header.Set("Upgrade", "websocket")
			r.Header.Set("Sec-WebSocket-Version", "13")
			r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		}
		resp, err := client.Do(r)
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, c := range []struct {
		name, target, host string
		want               int
		sameWords          bool
	}{
		{"too many topics", "/?topic=a&topic=b&topic=c", "localhost", http.StatusBadRequest, true},
		{"invalid topic", "/?topic=%01", "localhost", http.StatusBadRequest, true},
		{"too long a topic", "/?topic=" + strings.Repeat("x", 300), "localhost", http.StatusBadRequest, true},
		{"foreign host on loopback", "/?topic=a", "evil.example", http.StatusForbidden, false},
	} {
		sc, sb := get(bs.URL, c.target, c.host, false)
		wc, wb := get(hs.URL, c.target, c.host, true)
		if sc != c.want || wc != c.want {
			t.Errorf("%s: sse %d %q, ws %d %q; want %d from both", c.name, sc, sb, wc, wb, c.want)
		}
		if c.sameWords && strings.TrimPrefix(sb, "sse: ") != strings.TrimPrefix(wb, "ws: ") {
			t.Errorf("%s: sse says %q, ws says %q", c.name, sb, wb)
		}
		if strings.Contains(sb, "hub:") || strings.Contains(wb, "hub:") {
			t.Errorf("%s: an answer names the internal hub: sse %q, ws %q", c.name, sb, wb)
		}
	}
}

// apiBounds are the most exported names (top-level names, methods of
// exported types, fields of exported structs) each package may have: no
// more than the peers that do less (tmaxmax/go-sse for sse, gws for ws).
var apiBounds = map[string]int{"sse": 103, "ws": 133}

// TestAPISize: every exported name is one more thing a user reads; the
// packages stay within apiBounds, so a new name pays for itself with a cut.
func TestAPISize(t *testing.T) {
	paths := []string{"github.com/realtime-go/realtime/sse", "github.com/realtime-go/realtime/ws"}
	imp := importer.ForCompiler(token.NewFileSet(), "gc", exportData(t, paths...))
	for _, path := range paths {
		p, err := imp.Import(path)
		if err != nil {
			t.Fatalf("type-checking %s: %v", path, err)
		}
		n := 0
		for _, name := range p.Scope().Names() {
			obj := p.Scope().Lookup(name)
			if !obj.Exported() {
				continue
			}
			n++
			tn, ok := obj.(*types.TypeName)
			if !ok || tn.IsAlias() {
				continue
			}
			if named, ok := tn.Type().(*types.Named); ok {
				for i := range named.NumMethods() {
					if named.Method(i).Exported() {
						n++
					}
				}
			}
			switch u := tn.Type().Underlying().(type) {
			case *types.Struct:
				for i := range u.NumFields() {
					if u.Field(i).Exported() {
						n++
					}
				}
			case *types.Interface:
				for i := range u.NumExplicitMethods() {
					if u.ExplicitMethod(i).Exported() {
						n++
					}
				}
			}
		}
		t.Logf("%s: %d exported names, methods and fields (bound %d)", p.Name(), n, apiBounds[p.Name()])
		if n > apiBounds[p.Name()] {
			t.Errorf("package %s exports %d names, methods and fields, over its bound of %d: cut one for each one added", p.Name(), n, apiBounds[p.Name()])
		}
	}
}
