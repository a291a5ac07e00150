module github.com/realtime-go/realtime/ws/internal/interop

go 1.26.0

replace github.com/realtime-go/realtime => ../../..

require (
	github.com/coder/websocket v1.8.15
	github.com/realtime-go/realtime v0.0.0-00010101000000-000000000000
)

require golang.org/x/net v0.62.0 // indirect
