package main

import (
	"bytes"
	"strings"
	"testing"
)

const input = `goos: linux
BenchmarkManageConnections/kit-2         	   100	    150000 ns/op	   17000 B/op	     200 allocs/op
BenchmarkManageConnections/baseline-2    	   100	    160000 ns/op	   21000 B/op	     230 allocs/op
BenchmarkManageConnections/kit-2         	   100	    170000 ns/op	   17000 B/op	     202 allocs/op
BenchmarkManageConnections/baseline-2    	   100	    140000 ns/op	   21000 B/op	     230 allocs/op
BenchmarkManageConnections/kit-2         	   100	    155000 ns/op	   17000 B/op	     201 allocs/op
BenchmarkManageConnections/baseline-2    	   100	    150000 ns/op	   21000 B/op	     230 allocs/op
BenchmarkBegin/pending-0-2               	  1000	     10000 ns/op	    5000 B/op	      40 allocs/op
BenchmarkBegin/pending-4-2               	  1000	     40000 ns/op	    9000 B/op	      50 allocs/op
BenchmarkBeginByHand-2                   	  1000	     20000 ns/op	    6000 B/op	      50 allocs/op
BenchmarkClientIP/count=3/handoffkit-2   	  1000	       100 ns/op	       0 B/op	       0 allocs/op
BenchmarkClientIP/count=3/chi-2          	  1000	       200 ns/op	      48 B/op	       1 allocs/op
BenchmarkAllConnections/1000-2           	    10	   5000000 ns/op	    5000 ns/conn	  300 B/op	       3 allocs/op
PASS
`

func TestPairsAndMedians(t *testing.T) {
	runs, order, err := parse(strings.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(runs["BenchmarkManageConnections/kit"].ns); got != 3 {
		t.Fatalf("kit runs: %d, want 3", got)
	}
	ps := pairs(runs, order)
	want := []pair{
		{"ManageConnections", "BenchmarkManageConnections/kit", "BenchmarkManageConnections/baseline"},
		{"Begin/pending-0", "BenchmarkBegin/pending-0", "BenchmarkBeginByHand"},
		{"ClientIP/count=3", "BenchmarkClientIP/count=3/handoffkit", "BenchmarkClientIP/count=3/chi"},
	}
	if len(ps) != len(want) {
		t.Fatalf("pairs %v, want %v", ps, want)
	}
	for i := range want {
		if ps[i] != want[i] {
			t.Errorf("pair %d: %v, want %v", i, ps[i], want[i])
		}
	}
	var out bytes.Buffer
	if over := report(&out, runs, ps, false, 1.10); over {
		t.Errorf("reported over the limit:\n%s", out.String())
	}
	// medians: kit 155000 / baseline 150000 = 1.03; allocs 201/230 = 0.87
	if !strings.Contains(out.String(), "1.03x") || !strings.Contains(out.String(), "0.87x") {
		t.Errorf("ratios missing:\n%s", out.String())
	}
	if over := report(&out, runs, ps, true, 1.01); !over {
		t.Error("a 1.03x time ratio passed a 1.01 limit")
	}
}
