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
	"strings"

	"github.com/google/uuid"
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
	m := hmac.New(sha256.New, h.csrfKey)
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
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "dashboard: bad form: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := h.checkPost(r); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		base := basePath(r)
		msg, err := do(r)
		f := flash{OK: err == nil, Message: msg}
		if err != nil {
			f.Message = strings.TrimSpace(msg + " " + err.Error())
		}
		setFlash(w, base, f)
		http.Redirect(w, r, base+backPath(r.PostFormValue("back")), http.StatusSeeOther)
	}
}

// backPath returns back when it is a path of the dashboard (relative to its
// base, starting with one slash), else "/": never another site.
func backPath(back string) string {
	if !strings.HasPrefix(back, "/") || strings.HasPrefix(back, "//") || strings.ContainsRune(back, '\\') ||
		strings.ContainsFunc(back, func(r rune) bool { return r < 0x20 || r == 0x7f }) { // browsers drop tabs: "/\t/x" is "//x"
		return "/"
	}
	return back
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
			return nil, fmt.Errorf("job id %q: %w", s, err)
		}
		out = append(out, id)
	}
	if len(out) == 0 {
		return nil, errors.New("no job selected")
	}
	return out, nil
}

// jobAction requeues or deletes the jobs whose IDs the form lists (one
// job, a selection or a whole page), in one client call.
func (h *Handler) jobAction(r *http.Request) (string, error) {
	var (
		do   func(context.Context, []uuid.UUID) ([]error, error)
		verb string
	)
	switch a := r.PathValue("action"); a {
	case "requeue":
		do, verb = h.client.RequeueMany, "Requeued"
	case "delete":
		do, verb = h.client.DeleteMany, "Deleted"
	default:
		return "", fmt.Errorf("unknown job action %q (want requeue or delete)", a)
	}
	list, err := ids(r)
	if err != nil {
		return "", err
	}
	errs, err := do(r.Context(), list)
	n := 0
	for _, e := range errs {
		if e == nil {
			n++
		}
	}
	return fmt.Sprintf("%s %d of %d job(s).", verb, n, len(list)), errors.Join(append(errs, err)...)
}

// recurringAction triggers, pauses, resumes or removes the recurring job
// named by the form's "id".
func (h *Handler) recurringAction(r *http.Request) (string, error) {
	id, ctx := r.PostFormValue("id"), r.Context()
	if id == "" {
		return "", errors.New("no recurring job id")
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
		return "", fmt.Errorf("unknown recurring job action %q (want trigger, pause, resume or remove)", a)
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
		return "", fmt.Errorf("unknown queue action %q (want pause or resume)", a)
	}
}

// batchAction cancels the batch named by the form's "id".
func (h *Handler) batchAction(r *http.Request) (string, error) {
	if a := r.PathValue("action"); a != "cancel" {
		return "", fmt.Errorf("unknown batch action %q (want cancel)", a)
	}
	id, err := uuid.Parse(r.PostFormValue("id"))
	if err != nil {
		return "", fmt.Errorf("batch id %q: %w", r.PostFormValue("id"), err)
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
