module github.com/realtime-go/realtime/ws/internal/interop

go 1.26.0

replace github.com/realtime-go/realtime => ../../..

require (
	github.com/coder/websocket v1.8.15
	github.com/gorilla/websocket v1.5.3
	github.com/lxzan/gws v1.8.9
	github.com/realtime-go/realtime v0.0.0-00010101000000-000000000000
)

require (
	github.com/dolthub/maphash v0.1.0 // indirect
	github.com/klauspost/compress v1.17.9 // indirect
	golang.org/x/net v0.62.0 // indirect
)
