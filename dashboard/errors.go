package dashboard

import (
	"errors"
	"net/http"

	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/taskflow"
)

// shown lists the errors whose text a page may show: they say what the
// request asked for that cannot be done, in words of the dashboard or of
// taskflow. Any other error (a database's, a network's) may name hosts,
// users and databases, and goes to the server's log only.
var shown = []error{errBadRequest, storage.ErrNotFound, storage.ErrStateConflict, storage.ErrNotSupported,
	taskflow.ErrInvalidQueue, taskflow.ErrInvalidOption, taskflow.ErrInvalidName, taskflow.ErrUnknownTask}

// notice is an error whose text is written for the person at the
// browser.
type notice string

func (n notice) Error() string { return string(n) }

// public reports whether err may be shown to the browser: it, and each
// error it joins, is one of shown.
func public(err error) bool {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if e != nil && !public(e) {
				return false
			}
		}
		return true
	}
	if _, ok := errors.AsType[notice](err); ok {
		return true
	}
	for _, s := range shown {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// hide logs err with the request it failed and returns what the browser
// is told instead: a generic sentence.
func (h *Handler) hide(r *http.Request, err error) string {
	h.log.ErrorContext(r.Context(), "dashboard: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	return "The job store could not answer. The detail is in the server's log."
}

// say returns what the browser may be told of err: its text when public,
// else the generic sentence of hide.
func (h *Handler) say(r *http.Request, err error) string {
	if public(err) {
		return err.Error()
	}
	return h.hide(r, err)
}
