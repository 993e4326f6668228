package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/states"
)

// previewLimit bounds what a page shows of one value (arguments, a
// result, an error, a state's data): a page stays small whatever a job
// holds, and the rest is a click away, served raw.
const previewLimit = 64 << 10

// rawLimit bounds a value served raw; a larger one is refused (413), so
// that a few views of huge jobs cannot take the server's memory.
const rawLimit = 16 << 20

// preview is the start of a value, for a page: Text, then More bytes left
// out (0 when Text is the whole value).
type preview struct {
	Text string
	More int
}

// clip returns the start of s, at most limit bytes cut at a character
// boundary, and how many bytes it leaves out.
func clip(s string, limit int) preview {
	if len(s) <= limit {
		return preview{Text: s}
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return preview{Text: s[:cut], More: len(s) - cut}
}

// firstLine returns the first line of s, clipped to limit bytes, with an
// ellipsis when anything was left out.
func firstLine(s string, limit int) string {
	line, _, more := strings.Cut(strings.TrimSpace(s), "\n")
	p := clip(strings.TrimSpace(line), limit)
	if more || p.More > 0 {
		return p.Text + " …"
	}
	return p.Text
}

// previewJSON returns the preview, of at most limit bytes, of an encoded
// value: indented JSON when the value is small enough to format, else the
// raw bytes clipped.
func previewJSON(raw []byte, limit int) preview {
	if len(raw) > limit { // formatting would only be clipped: spare the work
		return clip(text(raw), limit)
	}
	p := clip(pretty(raw), limit)
	if p.More > 0 { // indentation made it longer than raw; count raw's bytes
		p.More = max(len(raw)-len(p.Text), 1)
	}
	return p
}

// pretty formats JSON with indentation and without the escapes of <, >
// and & (the page escapes them), or returns raw as text when it is not JSON
// (a custom codec).
func pretty(raw []byte) string {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if d.Decode(&v) == nil && d.InputOffset() == int64(len(bytes.TrimRight(raw, " \t\r\n"))) {
		var buf bytes.Buffer
		e := json.NewEncoder(&buf)
		e.SetEscapeHTML(false)
		e.SetIndent("", "  ")
		if e.Encode(v) == nil {
			return strings.TrimSuffix(buf.String(), "\n")
		}
	}
	return text(raw)
}

// text returns raw as text: itself when UTF-8, else Go-quoted.
func text(raw []byte) string {
	if utf8.Valid(raw) {
		return string(raw)
	}
	return strconv.Quote(string(raw))
}

// rawParts are the values of a job that its raw endpoint serves.
var rawParts = map[string]func(j *rawJob) ([]byte, bool){
	"args": func(j *rawJob) ([]byte, bool) { return j.args, true },
	"result": func(j *rawJob) ([]byte, bool) {
		s, ok := j.state.(states.Succeeded)
		return s.Result, ok
	},
	"error": func(j *rawJob) ([]byte, bool) {
		f, ok := j.failure()
		if !ok {
			return nil, false
		}
		msg := f.ErrorMessage
		if f.ErrorType != "" { // an error that is only text has no type
			msg = f.ErrorType + ": " + msg
		}
		return []byte(strings.TrimSpace(msg + "\n\n" + f.ErrorDetails)), true
	},
}

// rawJob is what the raw endpoint reads of a job.
type rawJob struct {
	args    []byte
	state   states.State
	history []states.State
}

// failure returns the latest Failed state of the job.
func (j *rawJob) failure() (states.Failed, bool) {
	for i := len(j.history) - 1; i >= 0; i-- {
		if f, ok := j.history[i].(states.Failed); ok {
			return f, true
		}
	}
	return states.Failed{}, false
}

// raw serves one value of a job ("args", "result" or "error") as text,
// whole, up to rawLimit bytes: the link under a clipped preview, and the
// way to see arguments that Options.HideArgs keeps out of the pages.
func (h *Handler) raw(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	part, ok := rawParts[r.PathValue("part")]
	id, err := uuid.Parse(r.PathValue("id"))
	if !ok || err != nil {
		http.Error(w, "dashboard: want /job/{uuid}/raw/{args|result|error}", http.StatusNotFound)
		return
	}
	j, err := h.client.Job(r.Context(), id)
	if err != nil {
		status := http.StatusNotFound
		if !public(err) {
			status = http.StatusServiceUnavailable
		}
		http.Error(w, h.say(r, err), status)
		return
	}
	rj := &rawJob{args: j.Args, state: j.State}
	for _, c := range j.History {
		rj.history = append(rj.history, c.State)
	}
	v, ok := part(rj)
	switch {
	case !ok:
		http.Error(w, fmt.Sprintf("dashboard: job %s has no %s", id, r.PathValue("part")), http.StatusNotFound)
		return
	case len(v) > rawLimit:
		http.Error(w, fmt.Sprintf("dashboard: the %s of job %s is %d bytes, over the dashboard's limit of %d: read them from the store",
			r.PathValue("part"), id, len(v), rawLimit), http.StatusRequestEntityTooLarge)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", "inline")
	_, _ = w.Write(v)
}
