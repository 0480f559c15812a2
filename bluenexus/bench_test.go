package bluenexus

import (
	"encoding/json"
	"strconv"
	"testing"
)

// page100 is a realistic 100-connection page in the hasMore shape.
func page100(tb testing.TB) []byte {
	tb.Helper()
	var c Connection
	if err := json.Unmarshal([]byte(connJSON), &c); err != nil {
		tb.Fatal(err)
	}
	more := true
	var p connectionPage
	p.Pagination.Page, p.Pagination.Limit, p.Pagination.Total, p.Pagination.HasMore = 1, 100, 250, &more
	for i := range 100 {
		c.ID = "conn_" + strconv.Itoa(i)
		p.Data = append(p.Data, c)
	}
	b, err := json.Marshal(p)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func BenchmarkDecodeConnectionsPage100(b *testing.B) {
	body := page100(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var p connectionPage
		err := json.Unmarshal(body, &p)
		if err != nil || len(p.Data) != 100 {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeConnectionsPage100Baseline does the same work by hand with
// a plain json.Unmarshal, for comparison.
func BenchmarkDecodeConnectionsPage100Baseline(b *testing.B) {
	body := page100(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var p connectionPage
		if err := json.Unmarshal(body, &p); err != nil || len(p.Data) != 100 {
			b.Fatal(err)
		}
	}
}
