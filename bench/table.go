package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// printTables prints the sitting's conditions, a markdown table of the
// medians with the range of the runs, and one of the ratios of each
// taskflow store against each peer.
func printTables(out io.Writer, cfg *config, res *results) {
	fmt.Fprintf(out, "Sitting of %s–%s: %d rounds, systems alternating; %d workers each; burn-down of %d jobs, bulk insert in calls of %d; continuous %s; pickup of up to %d jobs one at a time.\n",
		res.start.UTC().Format("2 Jan 2006 15:04"), res.end.UTC().Format("15:04 MST"), cfg.rounds, cfg.workers, cfg.n, cfg.batch, cfg.duration, cfg.samples)
	fmt.Fprintf(out, "Machine: %s.\n\n", machine())

	cols := usedColumns(res)
	fmt.Fprintf(out, "| system | %s |\n|---|%s\n", joinMetrics(cols), strings.Repeat("---:|", len(cols)))
	for _, s := range res.systems {
		cells := make([]string, len(cols))
		for i, m := range cols {
			cells[i] = cell(m, res.runs[s][m])
		}
		fmt.Fprintf(out, "| %s | %s |\n", s, strings.Join(cells, " | "))
	}

	var rows []string
	for _, tf := range res.systems {
		if !strings.HasPrefix(tf, "taskflow-") {
			continue
		}
		for _, peer := range res.systems {
			if strings.HasPrefix(peer, "taskflow-") {
				continue
			}
			cells := make([]string, len(cols))
			for i, m := range cols {
				cells[i] = ratio(m, res.runs[tf][m], res.runs[peer][m])
			}
			rows = append(rows, fmt.Sprintf("| %s / %s | %s |", tf, peer, strings.Join(cells, " | ")))
		}
	}
	if len(rows) > 0 {
		fmt.Fprintf(out, "\nRatios of medians, taskflow against each peer: throughput taskflow ÷ peer, pickup peer ÷ taskflow (above 1: taskflow better).\n\n")
		fmt.Fprintf(out, "| taskflow / peer | %s |\n|---|%s\n%s\n", joinMetrics(cols), strings.Repeat("---:|", len(cols)), strings.Join(rows, "\n"))
	}
	if len(res.notes) > 0 {
		fmt.Fprintf(out, "\nNotes:\n")
		for _, n := range res.notes {
			fmt.Fprintf(out, "- %s\n", n)
		}
	}
}

// usedColumns returns the columns some system has figures for.
func usedColumns(res *results) []metric {
	var cols []metric
	for _, m := range columns {
		if slices.ContainsFunc(res.systems, func(s string) bool { return len(res.runs[s][m]) > 0 }) {
			cols = append(cols, m)
		}
	}
	return cols
}

func joinMetrics(ms []metric) string {
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.String()
	}
	return strings.Join(names, " | ")
}

// cell formats the median of runs and, for several runs, their range.
func cell(m metric, runs []float64) string {
	if len(runs) == 0 {
		return "–"
	}
	s := format(m, median(runs))
	if len(runs) > 1 {
		s += fmt.Sprintf(" (%s–%s)", format(m, slices.Min(runs)), format(m, slices.Max(runs)))
	}
	return s
}

// ratio formats how many times taskflow's median is better than the peer's.
func ratio(m metric, tf, peer []float64) string {
	if len(tf) == 0 || len(peer) == 0 {
		return "–"
	}
	a, b := median(tf), median(peer)
	if !m.higherIsBetter() {
		a, b = b, a
	}
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func median(fs []float64) float64 {
	s := slices.Sorted(slices.Values(fs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// format writes a throughput as a whole number with thousands separators,
// a latency in milliseconds with two decimals.
func format(m metric, f float64) string {
	if !m.higherIsBetter() {
		return strconv.FormatFloat(f, 'f', 2, 64)
	}
	digits := strconv.FormatInt(int64(f+0.5), 10)
	var b strings.Builder
	for i, c := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
