package servers

import (
	"net"
	"net/http"
)

// httpServe serves h on ln with a plain net/http server, as every library
// but the raw floor is used, and returns a func that closes it.
func httpServe(ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h}
	err := srv.Serve(ln)
	if err == http.ErrServerClosed || isClosed(err) {
		return nil
	}
	return err
}

func isClosed(err error) bool {
	ne, ok := err.(*net.OpError)
	return ok && ne.Err != nil && ne.Err.Error() == "use of closed network connection"
}
