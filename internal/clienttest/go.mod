module github.com/realtime-go/realtime/internal/clienttest

go 1.26.0

replace github.com/realtime-go/realtime => ../..

require github.com/realtime-go/realtime v0.0.0-00010101000000-000000000000

require golang.org/x/net v0.62.0 // indirect
