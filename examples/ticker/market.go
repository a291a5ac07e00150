package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/realtime-go/realtime/internal/examplecmd"
	"github.com/realtime-go/realtime/sse"
)

// volatility is the standard deviation of one step's relative price move.
const volatility = 0.0025

// A stock is one simulated symbol.
type stock struct {
	Symbol string  `json:"symbol"`
	Name   string  `json:"name"`
	Open   float64 `json:"open"`  // price when the session started
	Price  float64 `json:"price"` // price now
}

// A quote is what the page receives for each price move, as JSON.
type quote struct {
	Symbol string  `json:"symbol"`
	Price  float64 `json:"price"`
	Open   float64 `json:"open"`
	Time   int64   `json:"time"` // Unix milliseconds
}

// A market moves the prices of its stocks at random. Its methods are safe
// for concurrent use.
type market struct {
	mu     sync.Mutex
	stocks []stock
	rnd    *rand.Rand
	last   string // ID of the last quote published
}

// newMarket returns a market of the default stocks at their opening prices.
func newMarket() *market {
	return &market{
		stocks: []stock{
			{Symbol: "ACME", Name: "Acme Corporation", Open: 118.40},
			{Symbol: "GLOBEX", Name: "Globex", Open: 64.15},
			{Symbol: "INITECH", Name: "Initech", Open: 23.80},
			{Symbol: "HOOLI", Name: "Hooli", Open: 342.10},
			{Symbol: "UMBRELLA", Name: "Umbrella Corp.", Open: 87.55},
			{Symbol: "WAYNE", Name: "Wayne Enterprises", Open: 251.30},
		},
		rnd: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x71c4e7)),
	}
}

// maxStreamsPerAddr bounds the streams one remote address holds at once (a
// page holds one per tab), so that one client cannot take every slot.
const maxStreamsPerAddr = 32

// brokerOptions returns the options of the ticker's Broker: a stream
// follows symbols of m only, so that a request for anything else is
// refused before the Broker does any work for it, and one address holds
// at most maxStreamsPerAddr streams. Behind the reverse proxies at the
// addresses trusted, a stream counts under the client's address (see
// examplecmd.ClientAddr). The Broker answers to allowedHosts.
func brokerOptions(m *market, trusted []netip.Prefix, allowedHosts ...string) sse.BrokerOptions {
	return sse.BrokerOptions{Topics: m.topics, MaxClientsPerAddr: maxStreamsPerAddr, AllowedHosts: allowedHosts,
		TrustedProxies: trusted, ClientAddr: func(r *http.Request) string { return examplecmd.ClientAddr(r, trusted) }}
}

// topics is the Broker's Topics hook: the "topic" query parameters, each
// the symbol of one of m's stocks.
func (m *market) topics(r *http.Request) ([]string, error) {
	topics := r.URL.Query()["topic"]
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range topics {
		if !slices.ContainsFunc(m.stocks, func(s stock) bool { return s.Symbol == t }) {
			symbols := make([]string, len(m.stocks))
			for i, s := range m.stocks {
				symbols[i] = s.Symbol
			}
			return nil, &sse.StatusError{Code: http.StatusBadRequest,
				Err: fmt.Errorf("unknown symbol %.40q: the symbols are %s", t, strings.Join(symbols, ", "))}
		}
	}
	return topics, nil
}

// snapshot returns a copy of the stocks.
func (m *market) snapshot() []stock {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]stock, len(m.stocks))
	for i, s := range m.stocks {
		if s.Price == 0 {
			s.Price = s.Open
		}
		out[i] = s
	}
	return out
}

// restore takes the prices of a snapshot, for the symbols it knows.
func (m *market) restore(saved []stock) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range saved {
		for i := range m.stocks {
			if m.stocks[i].Symbol == s.Symbol && s.Open > 0 && s.Price > 0 {
				m.stocks[i].Open, m.stocks[i].Price = s.Open, s.Price
			}
		}
	}
}

// step moves every price once and returns the new quotes.
func (m *market) step(now time.Time) []quote {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]quote, len(m.stocks))
	for i := range m.stocks {
		s := &m.stocks[i]
		if s.Price == 0 {
			s.Price = s.Open
		}
		// A random walk with a faint pull back to the opening price.
		pull := 0.02 * math.Log(s.Open/s.Price) * volatility * 10
		s.Price = math.Round(s.Price*math.Exp(volatility*m.rnd.NormFloat64()+pull)*100) / 100
		out[i] = quote{Symbol: s.Symbol, Price: s.Price, Open: s.Open, Time: now.UnixMilli()}
	}
	return out
}

// lastID returns the ID of the last price published, or "".
func (m *market) lastID() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

// run moves the prices every interval and publishes each symbol's quote to
// its topic, until ctx ends.
func (m *market) run(ctx context.Context, b *sse.Broker, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			for _, q := range m.step(now) {
				data, _ := json.Marshal(q) // cannot fail
				id, err := b.Publish(q.Symbol, sse.Event{Type: "price", Data: string(data)})
				if err != nil {
					slog.Error("publish", "symbol", q.Symbol, "err", err)
					continue
				}
				m.mu.Lock()
				m.last = id
				m.mu.Unlock()
			}
		}
	}
}
