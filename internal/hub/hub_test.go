package hub

import "testing"

func TestPublishSubscribe(t *testing.T) {
	h := New(Options{})
	defer h.Close()
	s, _, _, err := h.Subscribe([]string{"a"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Publish("a", func(id string) []byte { return []byte(id) }); err != nil {
		t.Fatal(err)
	}
	<-s.Ready()
	got := s.Take(nil)
	if len(got) != 1 || string(got[0].Data) != got[0].ID {
		t.Fatalf("got %v", got)
	}
}
