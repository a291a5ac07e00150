package servers

import (
	"errors"
	"net"
	"net/http"
)

// httpServe serves h on ln with a plain net/http server, as every library
// but the raw floor is used, until ln is closed.
func httpServe(ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h}
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
