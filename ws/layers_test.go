package ws

import (
	"reflect"
	"slices"
	"testing"
)

// TestConnIsAWebSocketConnection: a Conn has the methods of a WebSocket
// connection and no others; what belongs to a Hub (topics, the realtime.v1
// envelope) is a Member's.
func TestConnIsAWebSocketConnection(t *testing.T) {
	var got []string
	for m := range reflect.TypeFor[*Conn]().Methods() {
		got = append(got, m.Name)
	}
	want := []string{"Close", "CloseNow", "Context", "Ping", "Read", "Send", "SetContext", "Subprotocol", "Write"}
	if !slices.Equal(got, want) {
		t.Errorf("Conn's methods: %v, want %v", got, want)
	}
	got = got[:0]
	for m := range reflect.TypeFor[*Member]().Methods() {
		got = append(got, m.Name)
	}
	want = []string{"Conn", "Join", "Leave", "Send", "SendJSON", "Topics"}
	if !slices.Equal(got, want) {
		t.Errorf("Member's methods: %v, want %v", got, want)
	}
}
