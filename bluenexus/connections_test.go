package bluenexus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAllConnections_InvalidArgumentsFailBeforeIO(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) { reply(w, 200, `{"data":[]}`) })
	c := newTestClient(t, f.URL)
	tests := []struct {
		name  string
		token AccessToken
		want  string
	}{
		{"empty token", "", "empty access token"},
		{"token with newline", "tok\nX: y", "access token has characters not allowed in a header"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			for conn, err := range c.AllConnections(context.Background(), tc.token) {
				n++
				if !isArgumentError(err, "AllConnections") || !strings.Contains(err.Error(), tc.want) || conn.ID != "" {
					t.Errorf("error %v, want an argument error containing %q", err, tc.want)
				}
			}
			if n != 1 {
				t.Errorf("yielded %d times, want 1", n)
			}
		})
	}
	if n := f.hits.Load(); n != 0 {
		t.Errorf("%d hits, want 0", n)
	}
}

const connJSON = `{"id":"c1","accountId":"a1","providerId":"google","providerUserId":"u1",
"scopes":["email","drive"],"status":"active","expiresAt":"2025-07-01T00:00:00Z","canRefresh":true,
"metadata":{"displayName":"Ada","email":"ada@example.com","avatar":"https://x/a.png","providerName":"Google","providerIcon":"https://x/g.svg"},
"createdAt":"2025-06-01T00:00:00Z","updatedAt":"2025-06-02T00:00:00Z"}`

func TestDecodeConnection_AllFields(t *testing.T) {
	exp := time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)
	want := Connection{
		ID: "c1", AccountID: "a1", ProviderID: "google", ProviderUserID: "u1",
		Scopes: []string{"email", "drive"}, Status: StatusActive, ExpiresAt: &exp, CanRefresh: true,
		Metadata: ConnectionMetadata{DisplayName: "Ada", Email: "ada@example.com", Avatar: "https://x/a.png",
			ProviderName: "Google", ProviderIcon: "https://x/g.svg"},
		CreatedAt: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC),
		UpdatedAt: time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC),
	}
	var got Connection
	if err := json.Unmarshal([]byte(connJSON), &got); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || !got.ExpiresAt.Equal(exp) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestDecodeConnectionPage_BothPaginationShapes(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		n     int
		more  bool
		bad   bool
		total int
	}{
		{name: "hasMore shape, more", body: `{"data":[` + connJSON + `],"pagination":{"page":1,"limit":1,"total":3,"hasMore":true}}`,
			n: 1, more: true, total: 3},
		{name: "hasMore shape, last", body: `{"data":[` + connJSON + `],"pagination":{"page":3,"limit":1,"total":3,"hasMore":false}}`,
			n: 1, more: false, total: 3},
		{name: "pages shape, more", body: `{"data":[` + connJSON + `,` + connJSON + `],"pagination":{"page":1,"limit":2,"total":3,"pages":2,"hasNext":true,"hasPrev":false}}`,
			n: 2, more: true, total: 3},
		{name: "pages shape, last", body: `{"data":[` + connJSON + `],"pagination":{"page":2,"limit":2,"total":3,"pages":2,"hasNext":false,"hasPrev":true}}`,
			n: 1, more: false, total: 3},
		{name: "pages without flags", body: `{"data":[],"pagination":{"page":1,"limit":2,"total":3,"pages":2}}`,
			more: true, total: 3},
		{name: "totals only", body: `{"data":[],"pagination":{"page":2,"limit":2,"total":3}}`, more: false, total: 3},
		{name: "no pagination", body: `{"data":[` + connJSON + `]}`, n: 1, more: false},
		{name: "bare array", body: `[` + connJSON + `,` + connJSON + `]`, bad: true},
		{name: "null data", body: `{"data":null}`, more: false},
		{name: "not JSON", body: `<html>`, bad: true},
		{name: "data not a list", body: `{"data":{}}`, bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) { reply(w, 200, tc.body) })
			p, err := listPage(newTestClient(t, f.URL), context.Background(), testToken)
			if tc.bad {
				if !errors.Is(err, ErrBadResponse) {
					t.Errorf("error %v, want ErrBadResponse", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Data) != tc.n || p.more() != tc.more || p.Pagination.Total != tc.total {
				t.Errorf("n=%d more=%v total=%d, want %d %v %d", len(p.Data), p.more(), p.Pagination.Total, tc.n, tc.more, tc.total)
			}
			for _, c := range p.Data {
				if c.ID != "c1" || c.Metadata.Email != "ada@example.com" {
					t.Errorf("connection %+v", c)
				}
			}
		})
	}
}

// pagedServer serves total connections, limit per page, in the given
// pagination shape ("more" or "pages").
func pagedServer(t *testing.T, total int, shape string) *fake {
	return newFake(t, func(w http.ResponseWriter, r *http.Request) {
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		if page < 1 || limit < 1 {
			t.Errorf("query %q", r.URL.RawQuery)
			return
		}
		var data []Connection
		for i := (page - 1) * limit; i < min(page*limit, total); i++ {
			data = append(data, Connection{ID: "c" + strconv.Itoa(i)})
		}
		pages := (total + limit - 1) / limit
		pg := map[string]any{"page": page, "limit": limit, "total": total}
		if shape == "more" {
			pg["hasMore"] = page < pages
		} else {
			pg["pages"], pg["hasNext"], pg["hasPrev"] = pages, page < pages, page > 1
		}
		b, _ := json.Marshal(map[string]any{"data": data, "pagination": pg})
		reply(w, 200, string(b))
	})
}

func TestAllConnections_WalksEveryPage(t *testing.T) {
	tests := []struct {
		shape     string
		total     int
		wantPages int64
		wantFirst string
	}{
		{"more", 250, 3, "c0"},
		{"pages", 250, 3, "c0"},
		{"more", 200, 2, "c0"},
		{"pages", 0, 1, ""},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s %d", tc.shape, tc.total), func(t *testing.T) {
			f := pagedServer(t, tc.total, tc.shape)
			c := newTestClient(t, f.URL)
			var ids []string
			for conn, err := range c.AllConnections(context.Background(), testToken) {
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, conn.ID)
			}
			want := tc.total
			if len(ids) != want || f.hits.Load() != tc.wantPages {
				t.Errorf("%d connections over %d pages, want %d over %d", len(ids), f.hits.Load(), want, tc.wantPages)
			}
			if len(ids) > 0 && ids[0] != tc.wantFirst {
				t.Errorf("first %q", ids[0])
			}
			seen := map[string]bool{}
			for _, id := range ids {
				if seen[id] {
					t.Fatalf("duplicate %q", id)
				}
				seen[id] = true
			}
		})
	}
}

func TestAllConnections_DefaultLimitIs100(t *testing.T) {
	got := make(chan string, 1)
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		got <- r.URL.RawQuery
		reply(w, 200, `{"data":[]}`)
	})
	c := newTestClient(t, f.URL)
	for range c.AllConnections(context.Background(), testToken) {
	}
	if q := <-got; q != "limit=100&page=1" {
		t.Errorf("query %q", q)
	}
}

// TestAllConnections_StopsOnEndlessServer guards against a server whose
// pagination always says there is more.
func TestAllConnections_StopsOnEndlessServer(t *testing.T) {
	full := `{"data":[` + connJSON + `,` + connJSON + `],"pagination":{"page":1,"limit":2,"total":5,"hasMore":true}}`
	tests := []struct {
		name      string
		h         http.HandlerFunc
		wantConns int
		wantHits  int64
	}{
		{"stops after the reported total", func(w http.ResponseWriter, r *http.Request) { reply(w, 200, full) }, 6, 3},
		{"stops on an empty page", script(
			func(w http.ResponseWriter, r *http.Request) {
				reply(w, 200, `{"data":[`+connJSON+`],"pagination":{"page":1,"limit":1,"hasMore":true}}`)
			},
			func(w http.ResponseWriter, r *http.Request) {
				reply(w, 200, `{"data":[],"pagination":{"page":2,"limit":1,"hasMore":true}}`)
			}), 1, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, tc.h)
			c := newTestClient(t, f.URL)
			n := 0
			for _, err := range c.AllConnections(context.Background(), testToken) {
				if err != nil {
					t.Fatal(err)
				}
				n++
			}
			if n != tc.wantConns || f.hits.Load() != tc.wantHits {
				t.Errorf("%d connections over %d hits, want %d over %d", n, f.hits.Load(), tc.wantConns, tc.wantHits)
			}
		})
	}
}

// TestAllConnections_PageCap runs against an in-memory transport a server
// that never reports a total and never ends.
func TestAllConnections_PageCap(t *testing.T) {
	var mu sync.Mutex
	hits := 0
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		hits++
		mu.Unlock()
		return jsonResponse(r, 200, `{"data":[{"id":"x"}],"pagination":{"hasMore":true}}`), nil
	})
	c := newTestClient(t, "https://bluenexus.test", WithHTTPClient(&http.Client{Transport: rt}))
	var n int
	var last error
	for _, err := range c.AllConnections(context.Background(), testToken) {
		if err != nil {
			last = err
			continue
		}
		n++
	}
	if !errors.Is(last, ErrBadResponse) || n != maxPages || hits != maxPages {
		t.Errorf("error %v after %d connections and %d hits, want ErrBadResponse after %d", last, n, hits, maxPages)
	}
}

func TestAllConnections_StopsWhenTheLoopBreaks(t *testing.T) {
	f := pagedServer(t, 1000, "more")
	c := newTestClient(t, f.URL)
	n := 0
	for _, err := range c.AllConnections(context.Background(), testToken) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if n == 150 {
			break
		}
	}
	if f.hits.Load() != 2 {
		t.Errorf("%d hits, want 2", f.hits.Load())
	}
}

func TestAllConnections_YieldsAnErrorOnceAndStops(t *testing.T) {
	f := newFake(t, script(
		func(w http.ResponseWriter, r *http.Request) {
			reply(w, 200, `{"data":[`+connJSON+`],"pagination":{"page":1,"limit":1,"total":3,"hasMore":true}}`)
		},
		func(w http.ResponseWriter, r *http.Request) {
			reply(w, 401, `{"error":"UnauthorizedError","message":"expired","statusCode":401}`)
		},
	))
	c := newTestClient(t, f.URL)
	var conns, errs int
	for conn, err := range c.AllConnections(context.Background(), testToken) {
		if err != nil {
			errs++
			if !is(err, errUnauthorized) || conn.ID != "" {
				t.Errorf("error %v with %+v", err, conn)
			}
			continue
		}
		conns++
	}
	if conns != 1 || errs != 1 || f.hits.Load() != 2 {
		t.Errorf("%d connections, %d errors, %d hits", conns, errs, f.hits.Load())
	}
}
