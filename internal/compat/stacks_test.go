package compat

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/gorilla/handlers"
	"github.com/klauspost/compress/gzhttp"
)

// A stack is how a user's server puts the app behind its router and
// middleware.
type stack struct {
	name string
	// routes mounts the app's handlers; nil means plainRoutes.
	mount func(a app) http.Handler
	// wrap puts the routes behind the stack's middleware, which writes its
	// access log, if it has one, to log.
	wrap func(h http.Handler, log io.Writer) http.Handler
	// access is the format of the stack's access log; nil when it has none.
	access *accessFormat
	// proxy, when set, makes the stack a reverse proxy: clients talk to it
	// and it forwards to a backend that serves the routes.
	proxy func(target *url.URL, tr http.RoundTripper) http.Handler
	// path returns the path a client asks for: kind is "events", "ws" or
	// "echo". Nil means plainPath.
	path func(kind, topic string) string
}

func (s stack) routes(a app) http.Handler {
	if s.mount != nil {
		return s.mount(a)
	}
	return plainRoutes(a)
}

func (s stack) pathOf(kind, topic string) string {
	if s.path != nil {
		return s.path(kind, topic)
	}
	return plainPath(kind, topic)
}

// plainRoutes serves the app on an http.ServeMux at /events, /ws and
// /echo.
func plainRoutes(a app) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/events", a.broker)
	mux.Handle("/ws", a.hub)
	mux.Handle("/echo", a.echo)
	return mux
}

func plainPath(kind, topic string) string {
	if kind == "echo" {
		return "/echo"
	}
	return "/" + kind + "?topic=" + url.QueryEscape(topic)
}

// chiRoutes serves the app on a chi router with middleware.
func chiRoutes(mw ...func(http.Handler) http.Handler) func(a app) http.Handler {
	return func(a app) http.Handler {
		r := chi.NewRouter()
		r.Use(mw...)
		r.Method(http.MethodGet, "/events", a.broker)
		r.Method(http.MethodGet, "/ws", a.hub)
		r.Method(http.MethodGet, "/echo", a.echo)
		return r
	}
}

// chiLogger is chi's middleware.Logger writing to log, without colours.
func chiLogger(log io.Writer) func(http.Handler) http.Handler {
	return middleware.RequestLogger(&middleware.DefaultLogFormatter{Logger: stdLogger(log), NoColor: true})
}

func stdLogger(w io.Writer) *log.Logger { return log.New(w, "", 0) }

// naiveRecorder is the status-recording wrapper many servers write by
// hand: it embeds the ResponseWriter and has no Unwrap, so neither Flush
// nor Hijack can be reached through it.
type naiveRecorder struct {
	http.ResponseWriter
	status int
}

func (w *naiveRecorder) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// countingRecorder is naiveRecorder counting bytes, the hand-written
// access-log wrapper: it has neither Flush nor Unwrap.
type countingRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *countingRecorder) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingRecorder) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// accessLog is an access log as servers write it by hand, in chiFormat.
// With chiWrap it wraps the writer with chi's
// middleware.NewWrapResponseWriter, which passes Flush, Hijack and
// Unwrap on; without, with a countingRecorder, which passes none of them.
func accessLog(log io.Writer, chiWrap bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			var status func() int
			var written func() int64
			if chiWrap {
				ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
				status, written = ww.Status, func() int64 { return int64(ww.BytesWritten()) }
				w = ww
			} else {
				cr := &countingRecorder{ResponseWriter: w, status: http.StatusOK}
				status, written = func() int { return cr.status }, func() int64 { return cr.bytes }
				w = cr
			}
			next.ServeHTTP(w, r)
			fmt.Fprintf(log, "%q from %s - %03d %dB in %s\n", r.Method+" "+r.RequestURI+" "+r.Proto, r.RemoteAddr, status(), written(), time.Since(start))
		})
	}
}

// chiTimeout is the request deadline of the chi-timeout stack: streams
// behind it end when it passes.
const chiTimeout = 500 * time.Millisecond

// stacks are the middleware stacks of the suite, by name.
var stacks = map[string]stack{
	"mux": {
		name: "mux",
		wrap: func(h http.Handler, _ io.Writer) http.Handler { return h },
	},
	"chi": {
		name:   "chi",
		access: &chiFormat,
		wrap: func(h http.Handler, log io.Writer) http.Handler {
			r := chi.NewRouter()
			r.Use(chiLogger(log))
			r.Mount("/", h)
			return r
		},
		mount: chiRoutes(),
	},
	"chi-timeout": {
		name:   "chi-timeout",
		access: &chiFormat,
		wrap: func(h http.Handler, log io.Writer) http.Handler {
			r := chi.NewRouter()
			r.Use(chiLogger(log), middleware.Timeout(chiTimeout))
			r.Mount("/", h)
			return r
		},
		mount: chiRoutes(),
	},
	"gorilla-logging": {
		name:   "gorilla-logging",
		access: &commonFormat,
		wrap: func(h http.Handler, log io.Writer) http.Handler {
			return handlers.LoggingHandler(log, h)
		},
	},
	"gorilla-compress": {
		name:   "gorilla-compress",
		access: &commonFormat,
		wrap: func(h http.Handler, log io.Writer) http.Handler {
			return handlers.LoggingHandler(log, handlers.CompressHandler(h))
		},
	},
	"gzhttp": {
		name:   "gzhttp",
		access: &chiFormat,
		wrap: func(h http.Handler, log io.Writer) http.Handler {
			r := chi.NewRouter()
			r.Use(chiLogger(log), func(next http.Handler) http.Handler { return gzhttp.GzipHandler(next) })
			r.Mount("/", h)
			return r
		},
	},
	// chi's Compress with its default types, which leave event streams
	// alone.
	"chi-compress": {
		name:   "chi-compress",
		access: &chiFormat,
		wrap: func(h http.Handler, log io.Writer) http.Handler {
			r := chi.NewRouter()
			r.Use(chiLogger(log), middleware.Compress(5))
			r.Mount("/", h)
			return r
		},
	},
	// chi's Compress told to compress event streams too.
	"chi-compress-sse": {
		name:   "chi-compress-sse",
		access: &chiFormat,
		wrap: func(h http.Handler, log io.Writer) http.Handler {
			r := chi.NewRouter()
			r.Use(chiLogger(log), middleware.Compress(5, "text/event-stream"))
			r.Mount("/", h)
			return r
		},
	},
	// A hand-written access log outside chi's Compress: Compress's
	// writer has a Flush, which flushes the access log's writer if that
	// can flush, and does nothing otherwise.
	"chi-compress-log": {
		name:   "chi-compress-log",
		access: &chiFormat,
		wrap: func(h http.Handler, log io.Writer) http.Handler {
			r := chi.NewRouter()
			r.Use(accessLog(log, false), middleware.Compress(5))
			r.Mount("/", h)
			return r
		},
	},
	// The same with the access log's writer from chi's
	// middleware.NewWrapResponseWriter, which can flush.
	"chi-compress-wraplog": {
		name:   "chi-compress-wraplog",
		access: &chiFormat,
		wrap: func(h http.Handler, log io.Writer) http.Handler {
			r := chi.NewRouter()
			r.Use(accessLog(log, true), middleware.Compress(5))
			r.Mount("/", h)
			return r
		},
	},
	"timeout-handler": {
		name: "timeout-handler",
		wrap: func(h http.Handler, _ io.Writer) http.Handler {
			return http.TimeoutHandler(h, time.Minute, "timed out")
		},
	},
	"naive-recorder": {
		name: "naive-recorder",
		wrap: func(h http.Handler, _ io.Writer) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h.ServeHTTP(&naiveRecorder{ResponseWriter: w, status: http.StatusOK}, r)
			})
		},
	},
	"strip-prefix": {
		name: "strip-prefix",
		wrap: func(h http.Handler, _ io.Writer) http.Handler {
			mux := http.NewServeMux()
			mux.Handle("/app/", http.StripPrefix("/app", h))
			return mux
		},
		path: func(kind, topic string) string { return "/app" + plainPath(kind, topic) },
	},
	"mux-patterns": {
		name: "mux-patterns",
		mount: func(a app) http.Handler {
			mux := http.NewServeMux()
			mux.Handle("GET /events/{topic}", a.broker)
			mux.Handle("GET /ws/{topic}", a.hub)
			mux.Handle("GET /echo/{$}", a.echo)
			return mux
		},
		wrap: func(h http.Handler, _ io.Writer) http.Handler { return h },
		path: func(kind, topic string) string {
			if kind == "echo" {
				return "/echo/"
			}
			return "/" + kind + "/" + url.PathEscape(topic)
		},
	},
	// The proxy style of NewSingleHostReverseProxy: a Director that sets
	// the URL and leaves the Host header as the client sent it.
	"proxy-director": {
		name: "proxy-director",
		proxy: func(target *url.URL, tr http.RoundTripper) http.Handler {
			p := httputil.NewSingleHostReverseProxy(target)
			p.Transport = tr
			p.ErrorLog = stdLogger(io.Discard)
			return p
		},
	},
	// The style the httputil documentation recommends: Rewrite with
	// SetURL, which also sets the Host header to the target's.
	"proxy-rewrite": {
		name: "proxy-rewrite",
		proxy: func(target *url.URL, tr http.RoundTripper) http.Handler {
			return &httputil.ReverseProxy{
				Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
				Transport: tr,
				ErrorLog:  stdLogger(io.Discard),
			}
		},
	},
	// The setup examples/PROXIES.md recommends: Rewrite with SetURL and
	// SetXForwarded, the Host header kept as the client sent it, and
	// every write flushed.
	"proxy-documented": {
		name: "proxy-documented",
		proxy: func(target *url.URL, tr http.RoundTripper) http.Handler {
			return &httputil.ReverseProxy{
				Rewrite: func(pr *httputil.ProxyRequest) {
					pr.SetURL(target)
					pr.SetXForwarded()
					pr.Out.Host = pr.In.Host
				},
				FlushInterval: -1,
				Transport:     tr,
				ErrorLog:      stdLogger(io.Discard),
			}
		},
	},
	// Rewrite with SetURL and SetXForwarded: X-Forwarded-Host carries the
	// host the client asked for.
	"proxy-rewrite-xf": {
		name: "proxy-rewrite-xf",
		proxy: func(target *url.URL, tr http.RoundTripper) http.Handler {
			return &httputil.ReverseProxy{
				Rewrite: func(pr *httputil.ProxyRequest) {
					pr.SetURL(target)
					pr.SetXForwarded()
				},
				Transport: tr,
				ErrorLog:  stdLogger(io.Discard),
			}
		},
	},
}
