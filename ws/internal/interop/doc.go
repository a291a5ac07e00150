// Package interop tests the ws package against a third-party client,
// github.com/coder/websocket, kept in this nested module so that the core
// module depends on golang.org/x/net alone.
package interop
