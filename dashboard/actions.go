package dashboard

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/taskflow"
)

const (
	csrfCookie  = "taskflow_csrf"
	flashCookie = "taskflow_flash"
	csrfField   = "csrf"
)

// csrfToken returns the token that forms must carry: an HMAC, under a key
// only the handler knows, of a random value kept in a cookie (a signed
// double-submit cookie). It sets the cookie when the request has none.
func (h *Handler) csrfToken(w http.ResponseWriter, r *http.Request, base string) string {
	c, err := r.Cookie(csrfCookie)
	nonce := ""
	if err == nil && len(c.Value) == 32 {
		nonce = c.Value
	} else {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		nonce = hex.EncodeToString(b)
		http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: nonce, Path: base + "/", HttpOnly: true,
			SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	}
	return h.sign(nonce)
}

func (h *Handler) sign(nonce string) string {
	m := hmac.New(sha256.New, h.csrfKey())
	m.Write([]byte(nonce))
	return hex.EncodeToString(m.Sum(nil))
}

// checkPost returns an error wrapping ErrForbidden unless r may act: the
// dashboard is not read-only, r is not a cross-origin request, and it
// carries the CSRF token of its cookie.
func (h *Handler) checkPost(r *http.Request) error {
	if h.opts.ReadOnly {
		return fmt.Errorf("%w: the dashboard is read-only", ErrForbidden)
	}
	if err := h.origin.Check(r); err != nil {
		return fmt.Errorf("%w: %w", ErrForbidden, err)
	}
	c, err := r.Cookie(csrfCookie)
	if err != nil {
		return fmt.Errorf("%w: no CSRF cookie: reload the page and try again", ErrForbidden)
	}
	if !hmac.Equal([]byte(r.PostFormValue(csrfField)), []byte(h.sign(c.Value))) {
		return fmt.Errorf("%w: missing or invalid CSRF token: reload the page and try again", ErrForbidden)
	}
	return nil
}

// flash is the result of an action, shown once by the page the action
// redirects to.
type flash struct {
	OK      bool   `json:"ok"`
	Message string `json:"msg"`
}

// maxFlash bounds a flash cookie's value, so that the cookie stays under
// the browsers' limit of 4 kB.
const maxFlash = 3500

func setFlash(w http.ResponseWriter, base string, f flash) {
	value := encodeFlash(f)
	for len(value) > maxFlash { // JSON escapes and base64 make the value up to 8 times the message
		f.Message = strings.ToValidUTF8(f.Message[:len(f.Message)*3/4], "") + "…"
		value = encodeFlash(f)
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: value, Path: base + "/",
		MaxAge: 60, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

func encodeFlash(f flash) string {
	b, _ := json.Marshal(f)
	return base64.RawURLEncoding.EncodeToString(b)
}

// takeFlash returns the flash r carries, if any, and clears it.
func takeFlash(w http.ResponseWriter, r *http.Request, base string) *flash {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: base + "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	var f flash
	if err != nil || json.Unmarshal(b, &f) != nil {
		return nil
	}
	return &f
}

// action wraps a POST handler: it checks the request may act, runs do,
// which returns what it did, and redirects (303) to the form's "back"
// page, which shows the result.
func (h *Handler) action(do func(r *http.Request) (string, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !h.postForm(w, r) {
			return
		}
		base := basePath(r)
		msg, err := do(r)
		f := flash{OK: err == nil, Message: msg}
		if err != nil {
			f.Message = strings.TrimSpace(msg + " " + h.say(r, err))
		}
		setFlash(w, base, f)
		http.Redirect(w, r, base+backPath(r.PostFormValue("back")), http.StatusSeeOther)
	}
}

// postForm reads r's form and checks that r may act; when not, it
// answers and returns false.
func (h *Handler) postForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "dashboard: bad form: "+err.Error(), http.StatusBadRequest)
		return false
	}
	if err := h.checkPost(r); err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return false
	}
	return true
}

// backPath returns back when it is a path of the dashboard (relative to its
// base, starting with one slash), cleaned of "." and ".." elements (which
// would climb out of the prefix the dashboard is mounted under), with its
// query; else "/": never another site, nor another page of this one.
func backPath(back string) string {
	if !strings.HasPrefix(back, "/") || strings.HasPrefix(back, "//") || strings.ContainsRune(back, '\\') ||
		strings.ContainsFunc(back, func(r rune) bool { return r < 0x20 || r == 0x7f }) { // browsers drop tabs: "/\t/x" is "//x"
		return "/"
	}
	u, err := url.Parse(back)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" {
		return "/"
	}
	clean := &url.URL{Path: path.Clean(u.Path), RawQuery: u.RawQuery} // Clean("/a/../../x") is "/x"
	return clean.RequestURI()
}

// ids parses the job IDs of a form: its "id" fields (one job, or the
// selected ones), or its "page_id" fields (every job of the page) when its
// "scope" is "page".
func ids(r *http.Request) ([]uuid.UUID, error) {
	field := "id"
	if r.PostFormValue("scope") == "page" {
		field = "page_id"
	}
	var out []uuid.UUID
	for _, s := range r.PostForm[field] {
		id, err := uuid.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("%w: job id %q: %w", errBadRequest, s, err)
		}
		out = append(out, id)
	}
	if len(out) == 0 {
		return nil, notice("no job selected")
	}
	return out, nil
}

// requeueFrom lists the states a job may be requeued from: not Enqueued
// (it is waiting already) nor Processing (a worker runs it: delete it, or
// let it finish).
var requeueFrom = []states.Name{states.NameScheduled, states.NameAwaiting, states.NameSucceeded, states.NameFailed, states.NameDeleted}

// offered reports whether the page offers action on jobs in state st.
func offered(action string, st states.Name) bool {
	switch action {
	case "requeue":
		return slices.Contains(requeueFrom, st)
	case "delete":
		return st.Valid() && st != states.NameDeleted
	}
	return false
}

// jobAction requeues or deletes the jobs whose IDs the form lists (one
// job, a selection or a whole page). The form names, in "from", the state
// the page showed them in: each job moves only if it is still in that
// state (a compare-and-set), so that a page left open does not act on a
// job that has moved on since.
func (h *Handler) jobAction(r *http.Request) (string, error) {
	a := r.PathValue("action")
	if a != "requeue" && a != "delete" {
		return "", fmt.Errorf("%w: unknown job action %q (want requeue or delete)", errBadRequest, a)
	}
	from := states.Name(r.PostFormValue("from"))
	if !from.Valid() {
		return "", fmt.Errorf("%w: the form does not say which state its jobs were in: reload the page", errBadRequest)
	}
	if !offered(a, from) {
		return "", fmt.Errorf("%w: %s jobs cannot be %sd", errBadRequest, from, a)
	}
	list, err := ids(r)
	if err != nil {
		return "", err
	}
	var done, moved, gone int
	for _, id := range list {
		err := h.changeJob(r.Context(), a, id, from)
		switch {
		case err == nil:
			done++
		case errors.Is(err, storage.ErrStateConflict):
			moved++
		case errors.Is(err, storage.ErrNotFound):
			gone++
		default:
			return fmt.Sprintf("%s %d of %d job(s) before an error.", actionVerb[a], done, len(list)), err
		}
	}
	msg := fmt.Sprintf("%s %d of %d job(s).", actionVerb[a], done, len(list))
	if moved+gone == 0 {
		return msg, nil
	}
	return msg, notice(fmt.Sprintf("%d job(s) had moved on from %s since the page was shown, and %d no longer exist: they were left as they are. Reload the page to see them as they are now.",
		moved, from, gone))
}

var actionVerb = map[string]string{"requeue": "Requeued", "delete": "Deleted"}

// changeJob requeues or deletes job id if it is in state from, through the
// client's compare-and-set ChangeState.
func (h *Handler) changeJob(ctx context.Context, action string, id uuid.UUID, from states.Name) error {
	now := time.Now()
	if action == "delete" {
		return h.client.ChangeState(ctx, id, states.Deleted{DeletedAt: now, Reason: "deleted by request"}, from)
	}
	j, err := h.peek(ctx, id) // for its queue
	if err != nil {
		return err
	}
	return h.client.ChangeState(ctx, id, states.Enqueued{Queue: j.Queue, EnqueuedAt: now, Reason: "requeued by request"}, from)
}

// peek reads job id without its history where the store can.
func (h *Handler) peek(ctx context.Context, id uuid.UUID) (*storage.Job, error) {
	if p, ok := h.client.Store().(storage.Peeker); ok {
		return p.Peek(ctx, id)
	}
	return h.client.Store().Get(ctx, id)
}

// bulkChunk is how many jobs one request of a bulk action changes: the
// script sends requests until none is left, showing the progress, so that
// no request runs long enough to time out.
const bulkChunk = 500

// bulkResult is the answer to a bulk action's request from the script.
type bulkResult struct {
	OK      bool   `json:"ok"`
	Message string `json:"msg"`
	Done    int    `json:"done"` // jobs changed by this request
	More    bool   `json:"more"` // whether jobs may be left
}

// bulk requeues or deletes every job of the form's state ("from") that
// matches its task and queue, one chunk a request: the next bulkChunk of
// the list, through the client's RequeueMany or DeleteMany. A request
// that asks for JSON (the page's script, looping until none is left) gets
// a bulkResult; a plain form is sent back to its page with a flash.
func (h *Handler) bulk(w http.ResponseWriter, r *http.Request) {
	if !h.postForm(w, r) {
		return
	}
	res := h.bulkChunk(r)
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(res)
		return
	}
	if res.More && res.OK {
		res.Message += " More remain: press the button again."
	}
	base := basePath(r)
	setFlash(w, base, flash{OK: res.OK, Message: res.Message})
	http.Redirect(w, r, base+backPath(r.PostFormValue("back")), http.StatusSeeOther)
}

func (h *Handler) bulkChunk(r *http.Request) bulkResult {
	a := r.PathValue("action")
	from := states.Name(r.PostFormValue("from"))
	if (a != "requeue" && a != "delete") || !offered(a, from) {
		return bulkResult{Message: fmt.Sprintf("%s jobs cannot be %sd.", from, a)}
	}
	do := h.client.RequeueMany
	if a == "delete" {
		do = h.client.DeleteMany
	}
	list, err := h.client.Jobs(r.Context(), taskflow.JobQuery{State: from, Task: r.PostFormValue("task"), Queue: r.PostFormValue("queue"), Limit: bulkChunk})
	if err != nil {
		return bulkResult{Message: h.say(r, err)}
	}
	if len(list) == 0 {
		return bulkResult{OK: true, Message: fmt.Sprintf("No %s jobs left to %s.", from, a)}
	}
	ids := make([]uuid.UUID, len(list))
	for i, j := range list {
		ids[i] = j.ID
	}
	errs, err := do(r.Context(), ids)
	res := bulkResult{OK: err == nil, More: len(list) == bulkChunk}
	for _, e := range errs {
		if e == nil {
			res.Done++
		}
	}
	res.Message = fmt.Sprintf("%s %d of %d job(s).", actionVerb[a], res.Done, len(ids))
	if err != nil {
		res.Message += " " + h.say(r, err)
	}
	res.More = res.More && res.Done > 0 // a chunk that changed nothing would be met again
	return res
}

// recurringAction triggers, pauses, resumes or removes the recurring job
// named by the form's "id".
func (h *Handler) recurringAction(r *http.Request) (string, error) {
	id, ctx := r.PostFormValue("id"), r.Context()
	if id == "" {
		return "", notice("no recurring job id")
	}
	switch a := r.PathValue("action"); a {
	case "trigger":
		job, err := h.client.TriggerRecurring(ctx, id)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("Triggered recurring job %q: job %s.", id, job), nil
	case "pause":
		return done(fmt.Sprintf("Paused recurring job %q.", id), h.client.PauseRecurring(ctx, id))
	case "resume":
		return done(fmt.Sprintf("Resumed recurring job %q.", id), h.client.ResumeRecurring(ctx, id))
	case "remove":
		return done(fmt.Sprintf("Removed recurring job %q.", id), h.client.RemoveRecurring(ctx, id))
	default:
		return "", fmt.Errorf("%w: unknown recurring job action %q (want trigger, pause, resume or remove)", errBadRequest, a)
	}
}

// queueAction pauses or resumes the queue named by the form's "queue".
func (h *Handler) queueAction(r *http.Request) (string, error) {
	q, ctx := r.PostFormValue("queue"), r.Context()
	switch a := r.PathValue("action"); a {
	case "pause":
		return done(fmt.Sprintf("Paused queue %q.", q), h.client.PauseQueue(ctx, q))
	case "resume":
		return done(fmt.Sprintf("Resumed queue %q.", q), h.client.ResumeQueue(ctx, q))
	default:
		return "", fmt.Errorf("%w: unknown queue action %q (want pause or resume)", errBadRequest, a)
	}
}

// batchAction cancels the batch named by the form's "id".
func (h *Handler) batchAction(r *http.Request) (string, error) {
	if a := r.PathValue("action"); a != "cancel" {
		return "", fmt.Errorf("%w: unknown batch action %q (want cancel)", errBadRequest, a)
	}
	id, err := uuid.Parse(r.PostFormValue("id"))
	if err != nil {
		return "", fmt.Errorf("%w: batch id %q: %w", errBadRequest, r.PostFormValue("id"), err)
	}
	n, err := h.client.CancelBatch(r.Context(), id)
	return done(fmt.Sprintf("Canceled batch %s: deleted %d unfinished job(s).", id, n), err)
}

// done returns msg, what an action did, unless it failed.
func done(msg string, err error) (string, error) {
	if err != nil {
		return "", err
	}
	return msg, nil
}
