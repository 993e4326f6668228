// Package dashboard serves a web dashboard for taskflow as a net/http
// handler: job counts and live and historical graphs, jobs by state, each
// job with its history, logs and progress, recurring jobs, batches, queues,
// workers and flow-control limits, and the actions on them (requeue,
// delete, trigger, pause, resume, remove, cancel). It flags the queues and
// tasks whose jobs no live worker runs. Its pages, style sheet and script
// are embedded: it needs no network.
//
// It is safe by default: with zero Options it answers only requests from
// the local machine; every action is a POST carrying a CSRF token (give
// replicas one Options.CSRFKey) and the state its page showed, and acts
// only on jobs still in that state; all output is escaped, text from jobs
// is isolated from bidirectional overrides, and every value shown is a
// bounded preview; errors of the store reach the server's log, not the
// browser; and a Content-Security-Policy forbids inline script.
//
// Mount it under any prefix with http.StripPrefix:
//
//	mux.Handle("/taskflow/", http.StripPrefix("/taskflow", h))
package dashboard

import (
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
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
	// HideArgs keeps a job's arguments and result out of every page, for
	// arguments that hold personal or secret data: a job's page links to
	// them instead, and they are fetched only on a click, behind the same
	// Authorize check.
	HideArgs bool
	// PollInterval is how often the overview's live graph asks for new
	// counts. Default: 2 seconds.
	PollInterval time.Duration
	// PageSize is how many jobs a page lists unless the page's size
	// control asks for another. Default: 20.
	PageSize int
	// CSRFKey signs the CSRF tokens of the forms. Give every replica of
	// the dashboard, and every restart of it, the same key (at least 32
	// random bytes, kept secret like a password) so that a page served by
	// one is accepted by another; nil draws a random key for each Handler,
	// so that open pages' forms are refused after a restart or by another
	// replica. CSRFKeyFunc, when set, is used instead.
	CSRFKey []byte
	// CSRFKeyFunc returns the CSRF key for each token it signs or checks,
	// for a key kept in a secret store and rotated: it must return the
	// same key for every replica at a time.
	CSRFKeyFunc func() []byte
	// Logger receives the detail of the errors that pages show only as a
	// generic 500 or 503 page (so that database names, hosts and users
	// stay in the server's log). Default: slog.Default().
	Logger *slog.Logger
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
	csrfKey  func() []byte
	log      *slog.Logger
	origin   *http.CrossOriginProtection
	pages    map[string]*template.Template
	authz    func(*http.Request) bool
	assetsFS fs.FS
	assetVer string
	counts   countCache
	// unservedCache keeps the overview's work no live worker can do.
	unservedCache unservedCache
}

// maxPageSize bounds Options.PageSize.
const maxPageSize = 1000

// minCSRFKey is the shortest Options.CSRFKey, and the length of a random
// one.
const minCSRFKey = 32

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
	case opts.CSRFKey != nil && len(opts.CSRFKey) < minCSRFKey:
		return nil, fmt.Errorf("dashboard: CSRFKey of %d bytes: want at least %d", len(opts.CSRFKey), minCSRFKey)
	}
	if opts.PageSize == 0 {
		opts.PageSize = 20
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = 2 * time.Second
	}
	h := &Handler{client: client, opts: opts, mux: http.NewServeMux(), csrfKey: opts.CSRFKeyFunc,
		origin: http.NewCrossOriginProtection(), authz: opts.Authorize, log: cmp.Or(opts.Logger, slog.Default())}
	if h.authz == nil {
		h.authz = fromLoopback
	}
	if h.csrfKey == nil {
		key := slices.Clone(opts.CSRFKey)
		if key == nil {
			key = make([]byte, minCSRFKey)
			_, _ = rand.Read(key) // crypto/rand.Read never fails
		}
		h.csrfKey = func() []byte { return key }
	}
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
	if h.assetVer, err = hashFiles(static); err != nil {
		return nil, err
	}
	h.routes()
	return h, nil
}

func (h *Handler) routes() {
	m := h.mux
	m.HandleFunc("GET /{$}", h.page(h.overview))
	m.HandleFunc("GET /jobs/{state}", h.page(h.jobs))
	m.HandleFunc("GET /job", h.findJob)
	m.HandleFunc("GET /retries", h.page(h.retries))
	m.HandleFunc("GET /parent/{id}", h.parent)
	m.HandleFunc("GET /job/{id}", h.page(h.job))
	m.HandleFunc("GET /job/{id}/raw/{part}", h.raw)
	m.HandleFunc("GET /recurring", h.page(h.recurringPage))
	m.HandleFunc("GET /batches", h.page(h.batches))
	m.HandleFunc("GET /batches/{id}", h.page(h.batch))
	m.HandleFunc("GET /queues", h.page(h.queues))
	m.HandleFunc("GET /workers", h.page(h.workers))
	m.HandleFunc("GET /limits", h.page(h.limits))
	m.HandleFunc("GET /api/live", h.live)
	assets := http.FileServerFS(h.assetsFS)
	m.Handle("GET /static/{file}", http.StripPrefix("/static", h.cached(assets)))
	m.HandleFunc("POST /jobs/{action}", h.action(h.jobAction))
	m.HandleFunc("POST /jobs/{action}/all", h.bulk)
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

// cached serves the static files: for good when asked for by the
// version the pages name (a new version has another URL), else for an
// hour.
func (h *Handler) cached(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("v") == h.assetVer {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "public, max-age=3600")
		}
		next.ServeHTTP(w, r)
	})
}

// hashFiles returns a short hash of every file of fsys, names and
// contents.
func hashFiles(fsys fs.FS) (string, error) {
	sum := sha256.New()
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, name)
		fmt.Fprintf(sum, "%s %d\n", name, len(b))
		sum.Write(b)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("dashboard: %w", err)
	}
	return hex.EncodeToString(sum.Sum(nil))[:12], nil
}

// version is the version of taskflow's module in the running program.
var version = func() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)"
	}
	for _, m := range append([]*debug.Module{&bi.Main}, bi.Deps...) {
		if m.Path == "github.com/taskflow-go/taskflow" {
			return cmp.Or(m.Version, "(devel)")
		}
	}
	return "(devel)"
}()
