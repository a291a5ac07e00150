package reliability

import (
	"reflect"
	"testing"

	"github.com/realtime-go/realtime/sse"
	"github.com/realtime-go/realtime/ws"
)

// TestOneAPIShape: the same thing has the same name, type and default in
// package sse and package ws, so a user who learned one knows the other.
func TestOneAPIShape(t *testing.T) {
	for _, name := range []string{"Topics", "MaxClients", "MaxTopics", "HistoryBytes", "HistorySize", "HistoryAge", "RetryAfter", "Logger", "Epoch"} {
		a, okA := reflect.TypeFor[sse.BrokerOptions]().FieldByName(name)
		b, okB := reflect.TypeFor[ws.HubOptions]().FieldByName(name)
		if !okA || !okB || a.Type != b.Type {
			t.Errorf("option %s: BrokerOptions has it %v (%v), HubOptions %v (%v)", name, okA, a.Type, okB, b.Type)
		}
	}
	// The callbacks have the same names and meanings; their arguments
	// differ (a stream has its request, a connection its *ws.Conn).
	for _, name := range []string{"OnConnect", "OnClose"} {
		a, okA := reflect.TypeFor[sse.BrokerOptions]().FieldByName(name)
		b, okB := reflect.TypeFor[ws.HubOptions]().FieldByName(name)
		if !okA || !okB || a.Type.Kind() != reflect.Func || b.Type.Kind() != reflect.Func {
			t.Errorf("callback %s: BrokerOptions has it %v, HubOptions %v", name, okA, okB)
		}
	}
	ss, wss := reflect.TypeFor[sse.Stats](), reflect.TypeFor[ws.Stats]()
	for i := range ss.NumField() {
		f := ss.Field(i)
		if g, ok := wss.FieldByName(f.Name); !ok || g.Type != f.Type {
			t.Errorf("sse.Stats.%s has no twin in ws.Stats", f.Name)
		}
	}
	if reflect.TypeFor[sse.StatusError]() != reflect.TypeFor[ws.StatusError]() {
		t.Error("sse.StatusError and ws.StatusError differ")
	}
	for _, d := range []struct {
		name    string
		sse, ws any
	}{
		{"DefaultMaxClients", sse.DefaultMaxClients, ws.DefaultMaxClients},
		{"DefaultMaxTopics", sse.DefaultMaxTopics, ws.DefaultMaxTopics},
		{"DefaultHistoryBytes", sse.DefaultHistoryBytes, ws.DefaultHistoryBytes},
		{"DefaultHistoryAge", sse.DefaultHistoryAge, ws.DefaultHistoryAge},
		{"DefaultRetryAfter", sse.DefaultRetryAfter, ws.DefaultRetryAfter},
	} {
		if d.sse != d.ws {
			t.Errorf("%s: sse %v, ws %v", d.name, d.sse, d.ws)
		}
	}
}
