package tradeoffs

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"
)

// noData is what the table prints for a figure nothing measured yet.
const noData = "no data"

// Write prints the report as the seed's table, the approximate features and the
// Lambda-versus-Kappa comparison.
func (r Report) Write(w io.Writer) error {
	fmt.Fprintf(w, "Trade-offs of this %s deployment over %s (measured from %s to %s)\n\n", r.Architecture,
		time.Duration(r.WindowSeconds*float64(time.Second)), r.From.Format(time.TimeOnly), r.To.Format(time.TimeOnly))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PATTERN\tLATENCY p50 / p99\tUPDATE FREQUENCY\tCPU PER 1K\tSTORED PER 1K\tSTORED\tALWAYS ON\tSTALENESS p50 / p99")
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", row.Pattern,
			pair(row.LatencyP50, row.LatencyP99, seconds), num(row.Frequency, row.FrequencyUnit),
			per1k(seconds(row.CPUPer1000), row.Per), per1k(bytes(row.BytesPer1000), row.Per), bytes(row.BytesStored),
			yes(row.AlwaysOn), pair(row.StalenessP50, row.StalenessP99, seconds))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Approximate) > 0 {
		fmt.Fprintln(w, "\nApproximate speed-layer features, against the exact batch value that replaced them")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "FEATURE\tOBSERVED\tMEAN |rel. error|\tp99 |rel. error|")
		for _, a := range r.Approximate {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", a.Feature, a.Observations, percent(a.Mean), percent(a.P99))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "\nLambda vs Kappa: reprocessing the whole log (latest record of each)")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tCODE PATHS\tLATEST\tWALL\tCPU s\tEVENTS\tEVENTS/s")
	for _, p := range []struct {
		name string
		r    Reprocessing
	}{{"lambda", r.LambdaVsKappa.Lambda}, {"kappa", r.LambdaVsKappa.Kappa}} {
		what := p.r.What
		if what == "" {
			what = noData
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", p.name, p.r.CodePaths, what, seconds(p.r.WallSeconds),
			num(p.r.CPUSeconds, ""), num(p.r.Events, ""), num(p.r.EventsPerSecond, ""))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if d := r.LambdaVsKappa.Divergence; d != nil {
		fmt.Fprintf(w, "Answer divergence, batch run %d vs replay %d: %d entities in both, %d with equal states, |Δscore| max %.3g mean %.3g\n",
			d.Run, d.Replay, d.Entities, d.StatesEqual, d.MaxAbsDelta, d.MeanAbsDelta)
	} else {
		fmt.Fprintln(w, "Answer divergence: no data (needs a published batch run and a replay that caught up)")
	}
	return nil
}

func seconds(v *float64) string {
	if v == nil {
		return noData
	}
	return (time.Duration(*v * float64(time.Second))).Round(roundTo(*v)).String()
}

// roundTo keeps three significant-ish digits of a duration.
func roundTo(s float64) time.Duration {
	switch {
	case s < 0.001:
		return time.Microsecond
	case s < 1:
		return 10 * time.Microsecond
	case s < 60:
		return time.Millisecond
	}
	return time.Second
}

func pair(a, b *float64, f func(*float64) string) string {
	if a == nil && b == nil {
		return noData
	}
	return f(a) + " / " + f(b)
}

// per1k says what a cost is per: "1.2s / 1k events".
func per1k(figure, per string) string {
	if figure == noData {
		return figure
	}
	return figure + " / 1k " + per
}

func num(v *float64, unit string) string {
	if v == nil {
		return noData
	}
	s := strconv.FormatFloat(*v, 'g', 4, 64)
	if *v >= 1e4 {
		s = strconv.FormatFloat(*v, 'f', 0, 64)
	}
	if unit != "" {
		s += " " + unit
	}
	return s
}

func bytes(v *float64) string {
	if v == nil {
		return noData
	}
	const unit = 1024
	b := *v
	u := 0
	for ; b >= unit && u < 3; u++ {
		b /= unit
	}
	digits := 1
	if u == 0 {
		digits = 0
	}
	return strconv.FormatFloat(b, 'f', digits, 64) + " " + [...]string{"B", "KiB", "MiB", "GiB"}[u]
}

func percent(v *float64) string {
	if v == nil {
		return noData
	}
	return strconv.FormatFloat(*v*100, 'f', 2, 64) + "%"
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
