package dashboard

import (
	"cmp"
	"errors"
	"net/http"
	"slices"

	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/taskflow"
)

// maxPartitions bounds the partitions the limits page lists per limit:
// the busiest, as a limit may count a partition per tenant.
const maxPartitions = 50

// limitRow is a declared limit on the limits page: its use summed over
// its partitions, and for a PartitionLimit the busiest partitions.
type limitRow struct {
	taskflow.LimitInfo
	Partitions []taskflow.LimitInfo
	// PartitionsLeftOut counts the partitions with work not listed.
	PartitionsLeftOut int
}

type limitsData struct {
	Limits []limitRow
	// NoFlowControl tells that the store enforces no limits.
	NoFlowControl bool
}

// limits lists each declared limit with how much of it is in use and how
// many jobs wait on it; on a store without flow control, a note.
func (h *Handler) limits(r *http.Request) (page, error) {
	var d limitsData
	ls, err := h.client.Limits(r.Context())
	switch {
	case errors.Is(err, taskflow.ErrNotSupported):
		d.NoFlowControl = true
	case err != nil:
		return page{}, err
	}
	for _, t := range taskflow.LimitTotals(ls) {
		row := limitRow{LimitInfo: t}
		for _, l := range ls {
			switch {
			case l.Scope != t.Scope || l.Name != t.Name:
			case t.Scope == string(storage.ScopePartition):
				row.Partitions = append(row.Partitions, l)
			default: // one entry, with its NextStart, which the totals drop
				row.LimitInfo = l
			}
		}
		if len(row.Partitions) > 0 {
			slices.SortStableFunc(row.Partitions, func(a, b taskflow.LimitInfo) int { // the busiest first
				return cmp.Or(cmp.Compare(b.Held, a.Held), cmp.Compare(b.Running, a.Running), cmp.Compare(b.Enqueued, a.Enqueued))
			})
			if n := len(row.Partitions); n > maxPartitions {
				row.PartitionsLeftOut, row.Partitions = n-maxPartitions, row.Partitions[:maxPartitions]
			}
		}
		d.Limits = append(d.Limits, row)
	}
	return page{"limits", "Limits", "limits", d}, nil
}
