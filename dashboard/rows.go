package dashboard

import (
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/states"
)

// escaper escapes text for an HTML element or a quoted attribute as
// html/template does (its htmlEscaper).
var escaper = strings.NewReplacer("\x00", "\uFFFD", `"`, "&#34;", "&", "&amp;", "'", "&#39;", "+", "&#43;", "<", "&lt;", ">", "&gt;")

// rowWriter writes the rows of a list of jobs. A page of 500 rows through
// html/template took about 40 ms of CPU (tens of reflective calls a row,
// for fields, functions and escapers); written here, well under one. Every
// value is escaped by escaper, or is a number, a UUID or a time that
// cannot hold markup.
type rowWriter struct {
	strings.Builder
	base string // escaped
}

func (w *rowWriter) text(s string) { _, _ = escaper.WriteString(w, s) }

// at writes what the "ago" template writes of t.
func (w *rowWriter) at(t time.Time) {
	if t.IsZero() {
		w.WriteString("—")
		return
	}
	w.WriteString(`<time datetime="`)
	w.text(isoText(t))
	w.WriteString(`" title="`)
	w.text(utcText(t))
	w.WriteString(`" data-relative>`)
	w.text(agoText(t))
	w.WriteString(`</time>`)
}

// jobRows returns the rows of the jobs of d, as the "jobs" template shows
// them under base, with a box to select each unless readOnly.
func jobRows(base string, readOnly bool, d jobsData) template.HTML {
	w := &rowWriter{base: escaper.Replace(base)}
	w.Grow(len(d.Jobs) * 700)
	for i := range d.Jobs {
		j := &d.Jobs[i]
		id := j.ID.String()
		w.WriteString("<tr>\n")
		if !readOnly {
			w.WriteString(`<td><input type="checkbox" name="id" value="` + id + `" aria-label="select ` + id +
				`"><input type="hidden" name="page_id" value="` + id + `"></td>`)
		}
		w.WriteString(`<td><a class="mono" href="` + w.base + `/job/` + id + `">` + id + `</a></td><td><bdi>`)
		w.text(j.Task)
		w.WriteString(`</bdi></td><td><a href="` + w.base + `/jobs/`)
		w.text(string(d.State))
		w.WriteString(`?queue=`)
		w.text(url.QueryEscape(j.Queue))
		w.WriteString(`"><bdi>`)
		w.text(j.Queue)
		w.WriteString(`</bdi></a></td><td class="num">` + strconv.Itoa(j.Priority) + `</td><td class="num">` + strconv.Itoa(j.Attempt) + "</td>\n")
		if d.State == states.NameScheduled {
			w.WriteString("<td>")
			w.at(j.Due)
			w.WriteString("</td>")
		}
		w.WriteString(`<td class="detail">`)
		if j.Parent != uuid.Nil {
			parent := j.Parent.String()
			w.WriteString(`parent <a class="mono" href="` + w.base + `/parent/` + parent + `">` + parent + `</a> `)
		}
		if j.ErrType != "" {
			w.WriteString(`<span class="etype"><bdi>`)
			w.text(j.ErrType)
			w.WriteString(`</bdi></span> `)
		}
		w.WriteString("<bdi>")
		w.text(j.Detail)
		w.WriteString("</bdi></td>\n")
		if d.State == states.NameProcessing {
			w.WriteString("<td>")
			if p := j.Progress; p != nil {
				pct := strconv.Itoa(p.Percent)
				w.WriteString(`<progress max="100" value="` + pct + `"></progress> ` + pct + `% <bdi>`)
				w.text(p.Message)
				w.WriteString("</bdi>")
			}
			w.WriteString("</td>")
		}
		w.WriteString("\n<td>")
		w.at(j.At)
		w.WriteString("</td></tr>\n")
	}
	return template.HTML(w.String()) // every value is escaped above
}
