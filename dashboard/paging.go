package dashboard

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/taskflow"
)

// pageSizes are the sizes a list's size control offers, beside
// Options.PageSize.
var pageSizes = []int{10, 20, 50, 100, 500}

// maxCursor bounds a cursor in a URL: the stores' are far shorter.
const maxCursor = 256

// keyset is a list's place, read from a request: its page size and where
// the page starts (after a cursor, before one, or at the end), and the
// links to the pages around it, relative to the base, empty when there is
// none.
type keyset struct {
	Size                    int
	Sizes                   []int
	First, Prev, Next, Last string
	after, before           string
	last                    bool
	path                    string
	query                   url.Values
}

// Path is the list's path, relative to the base.
func (k keyset) Path() string { return k.path }

// newKeyset reads the paging parameters of r: "size", and one of "after"
// and "before" (a cursor) or "last".
func newKeyset(r *http.Request, size int) (keyset, error) {
	q := r.URL.Query()
	k := keyset{Size: size, path: r.URL.Path, query: q, Sizes: pageSizes}
	if !slices.Contains(k.Sizes, size) {
		k.Sizes = slices.Sorted(slices.Values(append(slices.Clone(pageSizes), size)))
	}
	if s := q.Get("size"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPageSize {
			return k, fmt.Errorf("%w: size %q: want a number from 1 to %d", errBadRequest, s, maxPageSize)
		}
		k.Size = n
	}
	k.after, k.before, k.last = q.Get("after"), q.Get("before"), q.Get("last") != ""
	if len(k.after) > maxCursor || len(k.before) > maxCursor || (k.after != "" && k.before != "") {
		return k, fmt.Errorf("%w: a page starts after one place or before one", errBadRequest)
	}
	return k, nil
}

// apply returns q walking to k's page, one job more than a page so that
// the walk tells whether a page follows.
func (k *keyset) apply(q taskflow.JobQuery) taskflow.JobQuery {
	q.Limit = k.Size + 1
	switch {
	case k.before != "":
		q.Cursor, q.Backward = k.before, true
	case k.last:
		q.Backward = true
	default:
		q.Cursor = k.after
	}
	return q
}

// page takes what the walk of apply returned: it returns the jobs of the
// page in the list's order, and sets the links.
func (k *keyset) page(jobs []*taskflow.JobInfo) []*taskflow.JobInfo {
	backward := k.before != "" || k.last
	more := len(jobs) > k.Size // a page beyond, in the direction walked
	jobs = jobs[:min(len(jobs), k.Size)]
	if backward {
		slices.Reverse(jobs)
	}
	atStart := (k.after == "" && !backward) || (backward && !more)
	atEnd := k.last || (!backward && !more)
	if !atStart {
		k.First = k.link("", "", false)
		if len(jobs) > 0 {
			k.Prev = k.link("", jobs[0].Cursor, false)
		}
	}
	if !atEnd {
		k.Last = k.link("", "", true)
		if len(jobs) > 0 {
			k.Next = k.link(jobs[len(jobs)-1].Cursor, "", false)
		}
	}
	return jobs
}

// link returns the path of the list's page after or before a cursor, or
// the last one.
func (k *keyset) link(after, before string, last bool) string {
	q := url.Values{}
	for key, v := range k.query {
		if key != "after" && key != "before" && key != "last" {
			q[key] = v
		}
	}
	switch {
	case after != "":
		q.Set("after", after)
	case before != "":
		q.Set("before", before)
	case last:
		q.Set("last", "1")
	}
	if len(q) == 0 {
		return k.path
	}
	return k.path + "?" + q.Encode()
}

// badCursor turns a cursor that the store refuses into a bad request.
func badCursor(err error) error {
	if errors.Is(err, storage.ErrBadCursor) {
		return fmt.Errorf("%w: %w", errBadRequest, err)
	}
	return err
}
