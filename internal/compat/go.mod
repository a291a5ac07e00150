module github.com/realtime-go/realtime/internal/compat

go 1.26.0

replace github.com/realtime-go/realtime => ../..

require (
	github.com/go-chi/chi/v5 v5.5.0
	github.com/gorilla/handlers v1.5.2
	github.com/klauspost/compress v1.17.9
	github.com/realtime-go/realtime v0.0.0-00010101000000-000000000000
)

require (
	github.com/felixge/httpsnoop v1.0.3 // indirect
	golang.org/x/net v0.62.0 // indirect
)
