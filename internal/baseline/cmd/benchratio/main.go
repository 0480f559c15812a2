// Command benchratio reads `go test -bench -benchmem` output and prints, for
// each benchmark of the kit that has a hand-written baseline beside it, the
// kit/baseline ratios of time, process CPU time (when reported as
// cpu-ns/op), bytes and allocations per operation. Time and CPU ratios are
// the median of the per-run ratios (run i of the kit against run i of the
// baseline, which ran right after it with -count), which holds steadier on
// a busy machine than a ratio of medians; bytes and allocations are ratios
// of medians. scripts/bench.sh runs it.
//
// Pairs are found by name:
//   - sub-benchmarks X/kit or X/handoffkit, and X/baseline, X/chi, X/netip
//     or X/stdlib;
//   - a baseline XByHand, XValues or XBaseline and the kit's X, or when X has
//     sub-benchmarks only, its first one (X/pending-0).
//
// Usage:
//
//	benchratio [-md] [-max 1.10] bench.txt
//
// With -md it prints a Markdown table. It exits with status 1 when a time or
// allocation ratio is above -max (0 disables the check).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

func main() {
	md := flag.Bool("md", false, "print a Markdown table")
	limit := flag.Float64("max", 0, "fail when a time or allocs ratio is above this (0: never)")
	flag.Parse()
	in := io.Reader(os.Stdin)
	if flag.NArg() > 0 {
		f, err := os.Open(flag.Arg(0))
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchratio:", err)
			os.Exit(2)
		}
		defer f.Close()
		in = f
	}
	runs, order, err := parse(in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchratio:", err)
		os.Exit(2)
	}
	ps := pairs(runs, order)
	if len(ps) == 0 {
		fmt.Println("benchratio: no kit/baseline pairs in the input")
		return
	}
	over := report(os.Stdout, runs, ps, *md, *limit)
	if over {
		os.Exit(1)
	}
}

// sample is one benchmark's results over its runs.
type sample struct {
	ns, cpu, bytes, allocs []float64
}

// line matches a result line: name-procs, iterations, then value/unit pairs.
var line = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

func parse(r io.Reader) (map[string]*sample, []string, error) {
	runs := map[string]*sample{}
	var order []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		s, ok := runs[m[1]]
		if !ok {
			s = &sample{}
			runs[m[1]] = s
			order = append(order, m[1])
		}
		f := strings.Fields(m[2])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				s.ns = append(s.ns, v)
			case "cpu-ns/op":
				s.cpu = append(s.cpu, v)
			case "B/op":
				s.bytes = append(s.bytes, v)
			case "allocs/op":
				s.allocs = append(s.allocs, v)
			}
		}
	}
	return runs, order, sc.Err()
}

type pair struct{ name, kit, base string }

// kitNames name the kit's side of sibling sub-benchmarks; baseNames the
// baseline's, tried in order.
var (
	kitNames  = []string{"/kit", "/handoffkit"}
	baseNames = []string{"/baseline", "/chi", "/netip", "/stdlib"}
)

var suffixes = []string{"ByHand", "Values", "Baseline"}

func pairs(runs map[string]*sample, order []string) []pair {
	var out []pair
	for _, name := range order {
		for _, k := range kitNames {
			stem, ok := strings.CutSuffix(name, k)
			if !ok {
				continue
			}
			for _, b := range baseNames {
				if _, found := runs[stem+b]; found {
					out = append(out, pair{strings.TrimPrefix(stem, "Benchmark"), name, stem + b})
					break
				}
			}
		}
		for _, suf := range suffixes {
			stem, ok := strings.CutSuffix(name, suf)
			if !ok {
				continue
			}
			kit := stem
			if _, found := runs[kit]; !found {
				var subs []string
				for n := range runs {
					if strings.HasPrefix(n, stem+"/") {
						subs = append(subs, n)
					}
				}
				if len(subs) == 0 {
					continue
				}
				kit = slices.Min(subs)
			}
			out = append(out, pair{strings.TrimPrefix(kit, "Benchmark"), kit, name})
		}
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// pairedRatio is the median of the per-run ratios kit[i]/base[i] when both
// ran the same number of times: with -count, run i of the kit and of its
// baseline are adjacent in time, so each ratio sees the same machine load,
// which a ratio of medians does not. Otherwise it is the ratio of medians.
func pairedRatio(kit, base []float64) (float64, bool) {
	if len(kit) == 0 || len(kit) != len(base) {
		return ratio(kit, base)
	}
	rs := make([]float64, 0, len(kit))
	for i := range kit {
		if base[i] == 0 {
			return ratio(kit, base)
		}
		rs = append(rs, kit[i]/base[i])
	}
	return median(rs), true
}

// ratio is the ratio of the medians.
func ratio(kit, base []float64) (float64, bool) {
	k, b := median(kit), median(base)
	if len(kit) == 0 || len(base) == 0 {
		return 0, false
	}
	if b == 0 {
		if k == 0 {
			return 1, true
		}
		return 0, false
	}
	return k / b, true
}

func fmtRatio(r float64, ok bool) string {
	if !ok {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", r)
}

func fmtNs(v []float64) string {
	if len(v) == 0 {
		return "n/a"
	}
	ns := median(v)
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2fms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1fµs", ns/1e3)
	}
	return fmt.Sprintf("%.0fns", ns)
}

func fmtNum(v []float64) string {
	if len(v) == 0 {
		return "n/a"
	}
	return strconv.FormatFloat(median(v), 'f', -1, 64)
}

// report writes the table and reports whether a time or allocs ratio is
// above limit. Time and CPU ratios are paired per run (pairedRatio); the
// others are ratios of medians. The cpu column (cpu-ns/op, process CPU time per operation)
// appears when the benchmarks report it.
func report(w io.Writer, runs map[string]*sample, ps []pair, md bool, limit float64) bool {
	over := false
	if md {
		fmt.Fprintln(w, "| benchmark | kit time | baseline time | time | CPU | B/op | allocs/op | kit allocs | baseline allocs |")
		fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	} else {
		fmt.Fprintf(w, "%-40s %10s %10s %6s %6s %6s %9s %8s %8s\n", "kit/baseline", "kit", "baseline", "time", "cpu", "B/op", "allocs/op", "kit a/op", "base a/op")
	}
	for _, p := range ps {
		k, b := runs[p.kit], runs[p.base]
		tr, tok := pairedRatio(k.ns, b.ns)
		cr, cok := pairedRatio(k.cpu, b.cpu)
		br, bok := ratio(k.bytes, b.bytes)
		ar, aok := ratio(k.allocs, b.allocs)
		flag := ""
		if limit > 0 && (tok && tr > limit || aok && ar > limit) {
			flag, over = " over", true
		}
		if md {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", p.name, fmtNs(k.ns), fmtNs(b.ns),
				fmtRatio(tr, tok), fmtRatio(cr, cok), fmtRatio(br, bok), fmtRatio(ar, aok), fmtNum(k.allocs), fmtNum(b.allocs))
			continue
		}
		fmt.Fprintf(w, "%-40s %10s %10s %6s %6s %6s %9s %8s %8s%s\n", p.name, fmtNs(k.ns), fmtNs(b.ns),
			fmtRatio(tr, tok), fmtRatio(cr, cok), fmtRatio(br, bok), fmtRatio(ar, aok), fmtNum(k.allocs), fmtNum(b.allocs), flag)
	}
	return over
}
