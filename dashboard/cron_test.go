package dashboard

import "testing"

func TestCronWords(t *testing.T) {
	tests := []struct{ spec, want string }{
		{"@daily", "every day at 00:00"},
		{"@hourly", "every hour, on the hour"},
		{"@every 90s", "every 1m30s"},
		{"* * * * *", "every minute"},
		{"*/5 * * * *", "every 5 minutes"},
		{"15 * * * *", "every hour at minute 15"},
		{"0,30 * * * *", "every hour at minutes 0, 30"},
		{"0 */6 * * *", "every 6 hours at minute 0"},
		{"0 2 * * *", "every day at 02:00"},
		{"0 0 2 * * *", "every day at 02:00"},
		{"30 8,17 * * *", "every day at 08:30, 17:30"},
		{"0 9 * * 1-5", "at 09:00 on Monday to Friday"},
		{"0 9 * * sun,3", "at 09:00 on Sunday, Wednesday"},
		{"0 3 1,15 * *", "at 03:00 on day 1, 15 of the month"},
		{"0 3 1 1 *", ""},
		{"0 3 1 * 1", ""},
		{"5 4 * * 9", ""},
		{"@reboot", ""},
		{"@every soon", ""},
		{"10 * * *", ""},
		{"30 15 0 2 * *", ""},
	}
	for _, tt := range tests {
		if got := cronWords(tt.spec); got != tt.want {
			t.Errorf("cronWords(%q) = %q, want %q", tt.spec, got, tt.want)
		}
	}
}
