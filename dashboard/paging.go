package dashboard

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/google/uuid"

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

// from returns where k's page starts: the cursor it walks from (none from
// an end) and whether it walks backwards.
func (k *keyset) from() (cursor string, backward bool) {
	switch {
	case k.before != "":
		return k.before, true
	case k.last:
		return "", true
	}
	return k.after, false
}

// apply returns q walking to k's page, one job more than a page so that
// the walk tells whether a page follows.
func (k *keyset) apply(q taskflow.JobQuery) taskflow.JobQuery {
	q.Limit = k.Size + 1
	q.Cursor, q.Backward = k.from()
	return q
}

// batches returns the query of k's page of batches, one batch more than
// a page; a batch's cursor is its ID.
func (k *keyset) batches() (taskflow.BatchQuery, error) {
	c, backward := k.from()
	q := taskflow.BatchQuery{Limit: k.Size + 1, Backward: backward}
	if c != "" {
		id, err := uuid.Parse(c)
		if err != nil {
			return q, fmt.Errorf("%w: batch cursor %q is not a batch id", errBadRequest, c)
		}
		q.Cursor = id
	}
	return q, nil
}

// page takes what the walk of apply returned: it returns the jobs of the
// page in the list's order, and sets the links.
func (k *keyset) page(jobs []*taskflow.JobInfo) []*taskflow.JobInfo {
	return walked(k, jobs, func(j *taskflow.JobInfo) string { return j.Cursor })
}

// walked takes the items that k's walk returned, one more than a page
// when a page follows in the direction walked: it returns those of the
// page in the list's order, and sets k's links from the cursors of the
// first and last.
func walked[T any](k *keyset, items []T, cursor func(T) string) []T {
	_, backward := k.from()
	more := len(items) > k.Size // a page beyond, in the direction walked
	items = items[:min(len(items), k.Size)]
	if backward {
		slices.Reverse(items)
	}
	atStart := (k.after == "" && !backward) || (backward && !more)
	atEnd := k.last || (!backward && !more)
	if !atStart {
		k.First = k.link("", "", false)
		if len(items) > 0 {
			k.Prev = k.link("", cursor(items[0]), false)
		}
	}
	if !atEnd {
		k.Last = k.link("", "", true)
		if len(items) > 0 {
			k.Next = k.link(cursor(items[len(items)-1]), "", false)
		}
	}
	return items
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
