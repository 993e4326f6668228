// Package dashboard serves a web dashboard for taskflow as a net/http
// handler: job counts and live and historical graphs, jobs by state, each
// job with its history, logs and progress, recurring jobs, batches, queues
// and workers, and the actions on them (requeue, delete, trigger, pause,
// resume, remove, cancel). Its pages, style sheet and script are embedded:
// it needs no network.
//
// It is safe by default: with zero Options it answers only requests from
// the local machine; every action is a POST carrying a CSRF token; all
// output is escaped; and a Content-Security-Policy forbids inline script.
//
// Mount it under any prefix with http.StripPrefix:
//
//	mux.Handle("/taskflow/", http.StripPrefix("/taskflow", h))
package dashboard

import (
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/taskflow-go/taskflow/taskflow"
)

// Options configure the dashboard. The zero value serves the local machine
// only, with every action.
type Options struct {
	// Authorize decides whether a request may use the dashboard. Nil
	// answers only requests from the local machine: a loopback RemoteAddr
	// and a Host header of localhost or a loopback address (which defeats
	// DNS rebinding), with no Forwarded, X-Forwarded-For or X-Real-IP
	// header (a proxy on the same host makes every request look local):
	// behind a proxy, set Authorize. Refused requests get 403 Forbidden.
	Authorize func(*http.Request) bool
	// ReadOnly hides every action and refuses every POST with 403.
	ReadOnly bool
	// HideArgs shows a job's arguments and result only after a click, for
	// arguments that hold personal or secret data.
	HideArgs bool
	// PollInterval is how often the overview's live graph asks for new
	// counts. Default: 2 seconds.
	PollInterval time.Duration
	// PageSize is how many jobs a page lists. Default: 20.
	PageSize int
}

// ErrForbidden is the cause of a 403 response: a request that Authorize
// (or, by default, the loopback check) refused, a POST in read-only mode,
// or one without a valid CSRF token.
var ErrForbidden = errors.New("dashboard: forbidden")

//go:embed templates static
var files embed.FS

// contentSecurityPolicy allows the handler's own script, styles and
// requests only: no inline script, no framing, no other origin.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// Handler is the dashboard. It is safe for concurrent use.
type Handler struct {
	client   *taskflow.Client
	opts     Options
	mux      *http.ServeMux
	csrfKey  []byte
	origin   *http.CrossOriginProtection
	pages    map[string]*template.Template
	authz    func(*http.Request) bool
	assetsFS fs.FS
}

// maxPageSize bounds Options.PageSize.
const maxPageSize = 1000

// New returns the dashboard of client's store. It returns an error for a
// nil client, a PageSize out of 0–1000 or a negative PollInterval.
func New(client *taskflow.Client, opts Options) (*Handler, error) {
	switch {
	case client == nil:
		return nil, errors.New("dashboard: nil client")
	case opts.PageSize < 0 || opts.PageSize > maxPageSize:
		return nil, fmt.Errorf("dashboard: PageSize %d: want 0 (the default, 20) to %d", opts.PageSize, maxPageSize)
	case opts.PollInterval < 0:
		return nil, fmt.Errorf("dashboard: negative PollInterval %v", opts.PollInterval)
	}
	if opts.PageSize == 0 {
		opts.PageSize = 20
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = 2 * time.Second
	}
	h := &Handler{client: client, opts: opts, mux: http.NewServeMux(), csrfKey: make([]byte, 32),
		origin: http.NewCrossOriginProtection(), authz: opts.Authorize}
	if h.authz == nil {
		h.authz = fromLoopback
	}
	_, _ = rand.Read(h.csrfKey) // crypto/rand.Read never fails
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	h.pages = pages
	static, err := fs.Sub(files, "static")
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	h.assetsFS = static
	h.routes()
	return h, nil
}

func (h *Handler) routes() {
	m := h.mux
	m.HandleFunc("GET /{$}", h.page(h.overview))
	m.HandleFunc("GET /jobs/{state}", h.page(h.jobs))
	m.HandleFunc("GET /job", h.findJob)
	m.HandleFunc("GET /job/{id}", h.page(h.job))
	m.HandleFunc("GET /recurring", h.page(listPage("recurring", "Recurring jobs", h.client.RecurringJobs)))
	m.HandleFunc("GET /batches", h.page(h.batches))
	m.HandleFunc("GET /batches/{id}", h.page(h.batch))
	m.HandleFunc("GET /queues", h.page(listPage("queues", "Queues", h.client.Queues)))
	m.HandleFunc("GET /workers", h.page(h.workers))
	m.HandleFunc("GET /api/live", h.live)
	assets := http.FileServerFS(h.assetsFS)
	m.Handle("GET /static/{file}", http.StripPrefix("/static", cached(assets)))
	m.HandleFunc("POST /jobs/{action}", h.action(h.jobAction))
	m.HandleFunc("POST /recurring/{action}", h.action(h.recurringAction))
	m.HandleFunc("POST /queues/{action}", h.action(h.queueAction))
	m.HandleFunc("POST /batches/{action}", h.action(h.batchAction))
}

// ServeHTTP implements http.Handler: it refuses requests that are not
// authorized, sets the security headers and serves the page.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.authz(r) {
		http.Error(w, fmt.Sprintf("%v: this dashboard answers local requests only unless Options.Authorize allows more", ErrForbidden), http.StatusForbidden)
		return
	}
	hd := w.Header()
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	h.mux.ServeHTTP(w, r)
}

// fromLoopback reports whether r comes from the local machine and names
// it: a loopback RemoteAddr, and a Host that is localhost or a loopback
// address, so that a web page whose name an attacker's DNS points at
// 127.0.0.1 (DNS rebinding) cannot read the dashboard. A request that a
// proxy forwarded (it says so in a header) is refused: behind a proxy on
// this host every request would look local.
func fromLoopback(r *http.Request) bool {
	for _, h := range []string{"Forwarded", "X-Forwarded-For", "X-Real-Ip"} {
		if r.Header.Get(h) != "" {
			return false
		}
	}
	return loopback(r.RemoteAddr) && (loopback(r.Host) || localhostName(r.Host))
}

// loopback reports whether hostport ("host:port" or "host") is a loopback
// IP address.
func loopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = strings.Trim(hostport, "[]")
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func localhostName(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}

// basePath returns the prefix the handler is mounted under (what
// http.StripPrefix removed), without a trailing slash: the request's
// original path minus the path the handler sees.
func basePath(r *http.Request) string {
	orig := r.URL.EscapedPath()
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil {
		orig = u.EscapedPath()
	}
	return strings.TrimSuffix(strings.TrimSuffix(orig, r.URL.EscapedPath()), "/")
}

func cached(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}
