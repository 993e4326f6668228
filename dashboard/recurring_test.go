package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/dashboard"
	"github.com/taskflow-go/taskflow/storage"
)

// TestRecurringPage: the recurring jobs page pages, searches and sorts,
// and marks a definition whose schedule cannot be parsed.
func TestRecurringPage(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			f := newFixture(t, s.new(t))
			ctx := context.Background()
			for i := range 25 {
				require.NoError(t, Echo.On(f.client).AddRecurring(ctx, fmt.Sprintf("report-%02d", i), "*/5 * * * *", Note{Text: "r"}))
			}
			rs := f.store.(storage.Recurring)
			require.NoError(t, rs.UpsertRecurring(ctx, &storage.RecurringJob{ID: "broken-cron", Task: "dash-echo", Args: []byte(`{}`), Spec: "61 * * * *",
				Queue: "default", Misfire: storage.MisfireOnce, NextRun: time.Now().Add(time.Hour)}))
			require.NoError(t, rs.UpsertRecurring(ctx, &storage.RecurringJob{ID: "broken-zone", Task: "dash-echo", Args: []byte(`{}`), Spec: "0 1 * * *",
				TimeZone: "Mars/Olympus", Queue: "default", Misfire: storage.MisfireOnce, NextRun: time.Now().Add(time.Hour)}))
			base, c := mount(t, newHandler(t, f.client, dashboard.Options{PageSize: 10}))
			tests := []struct {
				name, path string
				want       []string
				notWant    []string
			}{
				{"first page", "/recurring", []string{"broken-cron", "report-00", `id="page-next"`, "28 recurring job(s), <span class=\"error\">2 with a broken schedule"}, []string{"report-09"}},
				{"third page", "/recurring?page=3", []string{"report-23", "report-24", `id="page-prev"`}, []string{`id="page-next"`, "report-00", "nightly"}},
				{"search", "/recurring?q=REPORT-1", []string{"report-10", "report-19", "10 of 28"}, []string{"report-20", "nightly"}},
				{"broken cron marked", "/recurring?q=broken", []string{`cron expression &#34;61 * * * *&#34;`, `time zone &#34;Mars/Olympus&#34;`, ">error</span>"}, nil},
				{"next run in its zone", "/recurring?q=nightly", []string{"CET", "every day at 02:00"}, nil},
				{"sorted by next run", "/recurring?sort=next&size=50", nil, nil},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					resp, body := get(t, c, base+tt.path)
					require.Equal(t, http.StatusOK, resp.StatusCode, body)
					for _, w := range tt.want {
						require.Contains(t, body, w)
					}
					for _, w := range tt.notWant {
						require.NotContains(t, body, w)
					}
				})
			}
			_, body := get(t, c, base+"/recurring?sort=next&size=50")
			require.Less(t, strings.Index(body, "report-00"), strings.Index(body, "broken-cron"), "due in five minutes, before those in an hour")
			nightly, err := rs.GetRecurring(ctx, "nightly")
			require.NoError(t, err)
			if brokenAt := time.Now().Add(time.Hour); nightly.NextRun.After(brokenAt) { // 02:00 in Paris may come within the hour
				require.Less(t, strings.Index(body, "broken-cron"), strings.Index(body, "nightly"), "in an hour, before 02:00 of a later hour")
			} else {
				require.Less(t, strings.Index(body, "nightly"), strings.Index(body, "broken-cron"), "02:00 within the hour, before the one in an hour")
			}
		})
	}
}
