package recurring

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/storage"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		spec, tz string
		wantErr  string
	}{
		{"*/5 * * * *", "", ""},
		{"30 * * * * *", "", ""}, // seconds first
		{"@daily", "Europe/Berlin", ""},
		{"@every 90s", "", ""},
		{"0 9 * * MON-FRI", "America/New_York", ""},
		{"61 * * * *", "", "cron expression"},
		{"not cron", "", "cron expression"},
		{"* * * * *", "Mars/Olympus_Mons", "time zone"},
	}
	for _, tt := range tests {
		t.Run(tt.spec+"/"+tt.tz, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(tt.spec, tt.tz)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestNextHonoursTimeZoneAndDaylightSaving(t *testing.T) {
	t.Parallel()
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return v
	}
	tests := []struct {
		name, spec, tz string
		after, want    string
	}{
		{"UTC", "0 9 * * *", "", "2030-03-30T10:00:00Z", "2030-03-31T09:00:00Z"},
		{"BerlinWinter", "0 9 * * *", "Europe/Berlin", "2030-03-29T12:00:00Z", "2030-03-30T08:00:00Z"},
		{"BerlinAfterSpringForward", "0 9 * * *", "Europe/Berlin", "2030-03-30T12:00:00Z", "2030-03-31T07:00:00Z"},
		{"NewYorkAfterFallBack", "0 9 * * *", "America/New_York", "2030-11-02T14:00:00Z", "2030-11-03T14:00:00Z"},
		{"Seconds", "*/15 * * * * *", "", "2030-01-01T00:00:01Z", "2030-01-01T00:00:15Z"},
		{"Every", "@every 90s", "", "2030-01-01T00:00:00Z", "2030-01-01T00:01:30Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := Parse(tt.spec, tt.tz)
			require.NoError(t, err)
			require.Equal(t, utc(tt.want), s.Next(utc(tt.after)))
		})
	}
}

func TestPlanMisfirePolicies(t *testing.T) {
	t.Parallel()
	hourly, err := Parse("@hourly", "")
	require.NoError(t, err)
	due := time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	at := func(h int) time.Time { return due.Add(time.Duration(h) * time.Hour) }
	tests := []struct {
		name     string
		misfire  string
		now      time.Time
		wantFire []time.Time
		wantNext time.Time
	}{
		{"OnTime", storage.MisfireOnce, due.Add(time.Second), []time.Time{at(0)}, at(1)},
		{"OnTimeSkip", storage.MisfireSkip, due.Add(time.Second), []time.Time{at(0)}, at(1)},
		{"OnceCatchesUpWithOneRun", storage.MisfireOnce, at(3).Add(time.Minute), []time.Time{at(3)}, at(4)},
		{"AllRunsEachMissed", storage.MisfireAll, at(3).Add(time.Minute), []time.Time{at(0), at(1), at(2), at(3)}, at(4)},
		{"SkipDropsLateRuns", storage.MisfireSkip, at(3).Add(2 * time.Minute), nil, at(4)},
		{"SkipKeepsARunLateWithinTolerance", storage.MisfireSkip, at(3).Add(30 * time.Second), []time.Time{at(3)}, at(4)},
		{"NotDueYet", storage.MisfireOnce, due.Add(-time.Second), nil, due},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fire, next := Plan(hourly, due, tt.now, tt.misfire)
			require.Equal(t, tt.wantFire, fire)
			require.Equal(t, tt.wantNext, next)
		})
	}
}

func TestPlanAllIsBounded(t *testing.T) {
	t.Parallel()
	every, err := Parse("@every 1s", "")
	require.NoError(t, err)
	due := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	fire, next := Plan(every, due, due.Add(24*time.Hour), storage.MisfireAll)
	require.Len(t, fire, MaxCatchUp)
	require.Equal(t, due.Add(24*time.Hour+time.Second), next)
	require.Equal(t, due.Add(24*time.Hour), fire[len(fire)-1], "the newest occurrences are kept")
}
