package dashboard

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// cronWords says a cron expression in words for the common forms (a
// macro; every n minutes; at given minutes of every hour or every n hours;
// at given times every day, on given weekdays or on given days of the
// month), or returns "" for the others, which the page shows as written.
func cronWords(spec string) string {
	f := strings.Fields(spec)
	switch {
	case len(f) == 1:
		return map[string]string{"@yearly": "every year on January 1 at 00:00", "@annually": "every year on January 1 at 00:00",
			"@monthly": "on day 1 of every month at 00:00", "@weekly": "every Sunday at 00:00",
			"@daily": "every day at 00:00", "@midnight": "every day at 00:00", "@hourly": "every hour, on the hour"}[f[0]]
	case len(f) == 2 && f[0] == "@every":
		if d, err := time.ParseDuration(f[1]); err == nil {
			return "every " + d.String()
		}
		return ""
	case len(f) == 6 && f[0] == "0": // seconds first
		f = f[1:]
	case len(f) != 5:
		return ""
	}
	minute, hour, dom, month, dow := f[0], f[1], f[2], f[3], f[4]
	if month != "*" || dom != "*" && dow != "*" {
		return ""
	}
	var when string
	switch {
	case minute == "*" && hour == "*":
		when = "every minute"
	case strings.HasPrefix(minute, "*/") && hour == "*":
		when = "every " + strings.TrimPrefix(minute, "*/") + " minutes"
	case !numbers(minute):
		return ""
	case hour == "*":
		when = "every hour at " + minutes(minute)
	case strings.HasPrefix(hour, "*/") && numbers(strings.TrimPrefix(hour, "*/")):
		when = "every " + strings.TrimPrefix(hour, "*/") + " hours at " + minutes(minute)
	case numbers(hour) && !strings.Contains(minute, ","):
		m, _ := strconv.Atoi(minute)
		var times []string
		for h := range strings.SplitSeq(hour, ",") {
			n, _ := strconv.Atoi(h)
			times = append(times, fmt.Sprintf("%02d:%02d", n, m))
		}
		when = "at " + strings.Join(times, ", ")
	default:
		return ""
	}
	switch {
	case dom == "*" && dow == "*":
		if strings.HasPrefix(when, "at ") {
			return "every day " + when
		}
		return when
	case dow != "*":
		days, ok := weekdays(dow)
		if !ok {
			return ""
		}
		return when + " on " + days
	case numbers(dom):
		return when + " on day " + strings.ReplaceAll(dom, ",", ", ") + " of the month"
	}
	return ""
}

// minutes says a minute field that numbers accepts.
func minutes(s string) string {
	if strings.Contains(s, ",") {
		return "minutes " + strings.ReplaceAll(s, ",", ", ")
	}
	return "minute " + s
}

// numbers reports whether s is a comma-separated list of numbers.
func numbers(s string) bool {
	for p := range strings.SplitSeq(s, ",") {
		if _, err := strconv.Atoi(p); err != nil {
			return false
		}
	}
	return s != ""
}

// weekdays names the days of a day-of-week field: a list of numbers (0 or
// 7 is Sunday), names or ranges.
func weekdays(s string) (string, bool) {
	day := func(p string) (string, bool) {
		if n, err := strconv.Atoi(p); err == nil && n >= 0 && n <= 7 {
			return time.Weekday(n % 7).String(), true
		}
		for d := time.Sunday; d <= time.Saturday; d++ {
			if strings.EqualFold(p, d.String()[:3]) {
				return d.String(), true
			}
		}
		return "", false
	}
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		from, to, isRange := strings.Cut(p, "-")
		a, ok := day(from)
		if !ok {
			return "", false
		}
		if isRange {
			b, ok := day(to)
			if !ok {
				return "", false
			}
			a += " to " + b
		}
		out = append(out, a)
	}
	return strings.Join(out, ", "), true
}
