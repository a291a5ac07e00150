module github.com/realtime-go/realtime/internal/bench

go 1.26.0

replace github.com/realtime-go/realtime => ../..

require (
	github.com/coder/websocket v1.8.15
	github.com/gorilla/websocket v1.5.3
	github.com/lxzan/gws v1.8.9
	github.com/r3labs/sse/v2 v2.10.0
	github.com/realtime-go/realtime v0.0.0-00010101000000-000000000000
	github.com/tmaxmax/go-sse v0.12.0
	golang.org/x/net v0.62.0
)

require (
	github.com/dolthub/maphash v0.1.0 // indirect
	github.com/klauspost/compress v1.17.9 // indirect
	gopkg.in/cenkalti/backoff.v1 v1.1.0 // indirect
)
