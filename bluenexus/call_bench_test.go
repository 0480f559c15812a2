package bluenexus

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// benchServer answers every request with a small handoff or connection body
// over loopback, the way BlueNexus would (minus the network).
func benchServer(b *testing.B) *fake {
	return newFake(b, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.Method == http.MethodPost {
			reply(w, 200, `{"code":"hc_bench_0123456789abcdef","expiresIn":30}`)
			return
		}
		reply(w, 200, connJSON)
	})
}

// BenchmarkInitHandoff is the whole handoff init call: request building,
// breaker, round trip over loopback, body read and decode.
func BenchmarkInitHandoff(b *testing.B) {
	f := benchServer(b)
	c := newTestClient(b, f.URL)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.InitHandoff(ctx, testToken, testReq); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInitHandoffBaseline does the same round trip by hand with the
// standard library and no kit features, for comparison.
func BenchmarkInitHandoffBaseline(b *testing.B) {
	f := benchServer(b)
	hc := &http.Client{Transport: newTransport()}
	b.Cleanup(hc.CloseIdleConnections)
	body := []byte(`{"redirectUri":"https://app.example.com/return?state=s","intent":"connections"}`)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.URL+"/api/v1/auth/handoff/init", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+testToken.Reveal())
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20+1))
		resp.Body.Close()
		var v struct {
			Code string `json:"code"`
		}
		if err != nil || json.Unmarshal(raw, &v) != nil || v.Code == "" {
			b.Fatal(err)
		}
	}
}

// BenchmarkConnectionsPage is the whole GET of one page of connections.
func BenchmarkConnectionsPage(b *testing.B) {
	f := benchServer(b)
	c := newTestClient(b, f.URL)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := listPage(c, ctx, testToken); err != nil {
			b.Fatal(err)
		}
	}
}
