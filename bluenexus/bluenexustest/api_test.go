package bluenexustest_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/internal/bnwire"
)

// TestAddUserToken pins the token format and idempotence.
func TestAddUserToken(t *testing.T) {
	s := newServer(t, bluenexustest.WithUser("alice"))
	a := s.AddUser("alice")
	if again := s.AddUser("alice"); again != a {
		t.Errorf("AddUser is not idempotent")
	}
	if b := s.AddUser("bob"); b == a {
		t.Errorf("two users share a token")
	}
	v, ok := strings.CutPrefix(a.Reveal(), bluenexustest.TokenPrefix)
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if !ok || err != nil || len(raw) != 32 {
		t.Errorf("token %q: want %s + 32 bytes base64url", a.Reveal(), bluenexustest.TokenPrefix)
	}
}

// TestUnauthorized pins 401 UnauthorizedError with the documented body on
// every API route for a missing, malformed or unknown token.
func TestUnauthorized(t *testing.T) {
	routes := []struct{ method, path string }{
		{http.MethodPost, bluenexustest.PathHandoffInit},
		{http.MethodGet, bluenexustest.PathConnections},
		{http.MethodGet, bluenexustest.PathConnections + "/conn_x"},
		{http.MethodPut, bluenexustest.PathConnections + "/conn_x/refresh"},
	}
	auths := []struct{ name, header string }{
		{"missing", ""},
		{"unknown token", "Bearer bnx_unknown"},
		{"basic scheme", "Basic YWxpY2U6cHc="},
		{"no token", "Bearer "},
		{"token without scheme", "TOKEN"},
	}
	for _, rt := range routes {
		for _, a := range auths {
			t.Run(rt.method+" "+rt.path+"/"+a.name, func(t *testing.T) {
				s := newServer(t, bluenexustest.WithUser("alice"))
				req := newRequest(t, rt.method, s.URL()+rt.path, strings.NewReader(initBody("https://app.example/r")))
				req.Header.Set("Content-Type", "application/json")
				if a.header != "" {
					req.Header.Set("Authorization", a.header)
				}
				r := do(t, apiClient(t), req)
				if r.status != http.StatusUnauthorized {
					t.Fatalf("status %d, want 401", r.status)
				}
				eb := r.errorBody(t)
				if eb.Error != "UnauthorizedError" || eb.StatusCode != 401 || eb.Message == "" {
					t.Errorf("body %+v", eb)
				}
				if r.header.Get("WWW-Authenticate") == "" {
					t.Errorf("no WWW-Authenticate header")
				}
			})
		}
	}
}

// TestBearerSchemeCaseInsensitive accepts "bearer" as RFC 6750 allows.
func TestBearerSchemeCaseInsensitive(t *testing.T) {
	s := newServer(t)
	token := s.AddUser("alice")
	req := newRequest(t, http.MethodGet, s.URL()+bluenexustest.PathConnections, nil)
	req.Header.Set("Authorization", "bearer "+token.Reveal())
	if r := do(t, apiClient(t), req); r.status != http.StatusOK {
		t.Fatalf("status %d", r.status)
	}
}

// TestInitValidation pins the 400 body shape with field errors for intent
// and redirectUri, and the other body errors.
func TestInitValidation(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		status      int
		errName     string
		fields      []string
	}{
		{name: "unknown intent", body: `{"redirectUri":"https://app.example/r","intent":"payments"}`, status: 400, errName: "BadRequestError", fields: []string{"intent"}},
		{name: "missing intent", body: `{"redirectUri":"https://app.example/r"}`, status: 400, errName: "BadRequestError", fields: []string{"intent"}},
		{name: "intent not a string", body: `{"redirectUri":"https://app.example/r","intent":1}`, status: 400, errName: "BadRequestError", fields: []string{"intent"}},
		{name: "intent case matters", body: `{"redirectUri":"https://app.example/r","intent":"Connections"}`, status: 400, errName: "BadRequestError", fields: []string{"intent"}},
		{name: "missing redirectUri", body: `{"intent":"connections"}`, status: 400, errName: "BadRequestError", fields: []string{"redirectUri"}},
		{name: "null redirectUri", body: `{"redirectUri":null,"intent":"connections"}`, status: 400, errName: "BadRequestError", fields: []string{"redirectUri"}},
		{name: "both bad", body: `{"redirectUri":"javascript:alert(1)","intent":""}`, status: 400, errName: "BadRequestError", fields: []string{"redirectUri", "intent"}},
		{name: "empty object", body: `{}`, status: 400, errName: "BadRequestError", fields: []string{"redirectUri", "intent"}},
		{name: "not JSON", body: `redirectUri=x`, status: 400, errName: "BadRequestError"},
		{name: "JSON array", body: `[]`, status: 400, errName: "BadRequestError"},
		{name: "trailing data", body: `{"redirectUri":"https://app.example/r","intent":"connections"} {}`, status: 400, errName: "BadRequestError"},
		{name: "empty body", body: ``, status: 400, errName: "BadRequestError"},
		{name: "form content type", contentType: "application/x-www-form-urlencoded", body: `{}`, status: 415, errName: "UnsupportedMediaTypeError"},
		{name: "too large", body: `{"redirectUri":"https://app.example/r","intent":"connections","pad":"` + strings.Repeat("x", 70<<10) + `"}`, status: 413, errName: "PayloadTooLargeError"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			req := initRequest(t, s, s.AddUser("alice"), tc.body)
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			r := do(t, apiClient(t), req)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tc.status, r.body)
			}
			eb := r.errorBody(t)
			if eb.Error != tc.errName || eb.StatusCode != tc.status || eb.Message == "" {
				t.Errorf("body %+v", eb)
			}
			var fields []string
			for _, fe := range eb.Errors {
				fields = append(fields, fe.Field)
				if fe.Message == "" {
					t.Errorf("field error without message: %+v", fe)
				}
			}
			if !reflect.DeepEqual(fields, tc.fields) {
				t.Errorf("error fields = %v, want %v", fields, tc.fields)
			}
		})
	}
}

// TestInitValidationBodyShape pins the exact JSON of a field error.
func TestInitValidationBodyShape(t *testing.T) {
	s := newServer(t)
	r := do(t, apiClient(t), initRequest(t, s, s.AddUser("alice"), `{"redirectUri":"https://app.example/r","intent":"payments"}`))
	var got map[string]any
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"error": "BadRequestError", "message": "Validation failed", "statusCode": 400.0,
		"errors": []any{map[string]any{"field": "intent", "message": "intent must be one of the following values: connections", "value": "payments"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("body\n got %v\nwant %v", got, want)
	}
}

// TestRuleB6_RedirectURIRules pins which redirectUris init accepts: https, http on
// loopback only, custom app schemes; never script or local schemes,
// userinfo, fragments, whitespace or control characters (SECURITY.md B6).
func TestRuleB6_RedirectURIRules(t *testing.T) {
	tests := []struct {
		uri string
		ok  bool
	}{
		{"https://app.example.com/return", true},
		{"https://app.example.com:8443/return?state=x", true},
		{"HTTPS://app.example.com/return", true},
		{"http://127.0.0.1/return", true},
		{"http://127.5.6.7:9000/return", true},
		{"http://localhost:3000/return", true},
		{"http://LOCALHOST/return", true},
		{"http://[::1]:8080/return", true},
		{"yourapp://connections", true},
		{"com.example.app:/oauth2redirect", true},
		{"exp://192.168.1.10:19000/--/connections", true},

		{"", false},
		{"/relative/path", false},
		{"//app.example.com/return", false},
		{"app.example.com/return", false},
		{"http://app.example.com/return", false},
		{"http://192.168.1.10/return", false},
		{"http://localhost.evil.example/return", false},
		{"http://127.0.0.1.nip.io/return", false},
		{"http://[::ffff:7f00:1]/return", true},
		{"https:///nohost", false},
		{"https:app.example.com", false},
		{"javascript:alert(1)", false},
		{"JavaScript://%0aalert(1)", false},
		{"data:text/html,<script>alert(1)</script>", false},
		{"file:///etc/passwd", false},
		{"vbscript:msgbox", false},
		{"blob:https://app.example.com/uuid", false},
		{"intent://scan/#Intent;scheme=zxing;end", false},
		{"c:/windows/path", false},
		{"yourapp:connections", false},
		{"https://user:pass@app.example.com/return", false},
		{"https://user@app.example.com/return", false},
		{"https://app.example.com/return#frag", false},
		{"https://app.example.com/return#", false},
		{"https://app.example.com/re turn", false},
		{" https://app.example.com/return", false},
		{"https://app.example.com/return\n", false},
		{"https://app.example.com/\x00", false},
		{"https://app.example.com/\u00a0", false},
		{"https://app.example.com\\@evil.example/", false},
		{"https://app.example.com/%zz", false},
		{"https://" + strings.Repeat("a", 2100) + ".example/", false},
	}
	s := newServer(t)
	token := s.AddUser("alice")
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%q", tc.uri), func(t *testing.T) {
			r := do(t, apiClient(t), initRequest(t, s, token, initBody(tc.uri)))
			if tc.ok {
				if r.status != http.StatusOK {
					t.Fatalf("rejected: %d %s", r.status, r.body)
				}
				return
			}
			if r.status != http.StatusBadRequest {
				t.Fatalf("accepted: %d %s", r.status, r.body)
			}
			if eb := r.errorBody(t); len(eb.Errors) != 1 || eb.Errors[0].Field != "redirectUri" {
				t.Errorf("errors %+v, want one on redirectUri", eb.Errors)
			}
		})
	}
}

// TestRuleA4_ClientCriteria pins SECURITY.md A4/A5 on the emulator's side: a present
// client-IP header must end in exactly one IP, else 400 with the published
// client-criteria message.
func TestRuleA4_ClientCriteria(t *testing.T) {
	bad := []string{"garbage", "unknown", "_obfuscated", "010.001.002.003", "3627734734", "0.0.0.0", "::",
		"1.2.3.4:80", "[::1]", "", " ", "1.2.3.4,", "127.0.0.1, garbage", "example.com", "1.2.3.4/32"}
	for _, v := range bad {
		t.Run(fmt.Sprintf("%q", v), func(t *testing.T) {
			s := newServer(t)
			r := do(t, apiClient(t), initRequest(t, s, s.AddUser("alice"), initBody("https://app.example/r"), "X-Forwarded-For", v))
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400; body %s", r.status, r.body)
			}
			if eb := r.errorBody(t); eb.Message != bnwire.ClientCriteriaMessage || eb.Error != "BadRequestError" {
				t.Errorf("body %+v", eb)
			}
		})
	}
}

type listResp struct {
	Data       []bluenexus.Connection `json:"data"`
	Pagination map[string]any         `json:"pagination"`
}

func list(t *testing.T, s *bluenexustest.Server, token bluenexus.AccessToken, q url.Values) (response, listResp) {
	t.Helper()
	r := apiCall(t, s, http.MethodGet, bluenexustest.PathConnections+"?"+q.Encode(), token)
	var lr listResp
	if r.status == http.StatusOK {
		if err := json.Unmarshal([]byte(r.body), &lr); err != nil {
			t.Fatalf("list body: %v", err)
		}
	}
	return r, lr
}

// TestPaginationShapes walks 1,000 connections page by page in both
// published pagination shapes and checks every field.
func TestPaginationShapes(t *testing.T) {
	for _, shape := range []bluenexustest.PaginationShape{bluenexustest.PaginationHasMore, bluenexustest.PaginationPages} {
		t.Run(string(shape), func(t *testing.T) {
			s := newServer(t, bluenexustest.WithPaginationShape(shape))
			token := s.AddUser("alice")
			s.SeedConnections("alice", 1000)
			seen := map[string]bool{}
			var last time.Time
			for page := 1; ; page++ {
				r, lr := list(t, s, token, url.Values{"page": {fmt.Sprint(page)}, "limit": {"100"}})
				if r.status != http.StatusOK {
					t.Fatalf("page %d: %d %s", page, r.status, r.body)
				}
				p := lr.Pagination
				want := map[string]any{"page": float64(page), "limit": 100.0, "total": 1000.0}
				if shape == bluenexustest.PaginationPages {
					want["pages"], want["hasNext"], want["hasPrev"] = 10.0, page < 10, page > 1
				} else {
					want["hasMore"] = page < 10
				}
				if !reflect.DeepEqual(p, want) {
					t.Fatalf("page %d pagination = %v, want %v", page, p, want)
				}
				for _, c := range lr.Data {
					if seen[c.ID] {
						t.Fatalf("duplicate %s", c.ID)
					}
					seen[c.ID] = true
					if !last.IsZero() && c.CreatedAt.After(last) {
						t.Fatalf("not sorted by createdAt desc")
					}
					last = c.CreatedAt
				}
				if page >= 10 {
					break
				}
			}
			if len(seen) != 1000 {
				t.Errorf("saw %d connections, want 1000", len(seen))
			}
			// Past the end: empty data, not null, and no next page.
			r, lr := list(t, s, token, url.Values{"page": {"11"}, "limit": {"100"}})
			if r.status != http.StatusOK || lr.Data == nil || len(lr.Data) != 0 || !strings.Contains(r.body, `"data":[]`) {
				t.Errorf("past the end: %d %s", r.status, r.body)
			}
		})
	}
}

// TestSetPaginationShape switches shapes on a running server and pins the
// default page size of 20 and the empty-list shape.
func TestSetPaginationShape(t *testing.T) {
	s := newServer(t)
	token := s.AddUser("alice")
	_, lr := list(t, s, token, nil)
	if want := map[string]any{"page": 1.0, "limit": 20.0, "total": 0.0, "hasMore": false}; !reflect.DeepEqual(lr.Pagination, want) {
		t.Errorf("default = %v, want %v", lr.Pagination, want)
	}
	s.SetPaginationShape(bluenexustest.PaginationPages)
	_, lr = list(t, s, token, nil)
	if want := map[string]any{"page": 1.0, "limit": 20.0, "total": 0.0, "pages": 0.0, "hasNext": false, "hasPrev": false}; !reflect.DeepEqual(lr.Pagination, want) {
		t.Errorf("pages = %v, want %v", lr.Pagination, want)
	}
}

// TestListQueryValidation pins 400 with a field error for each bad query.
func TestListQueryValidation(t *testing.T) {
	tests := []struct {
		name, param, value, field string
	}{
		{"limit 0", "limit", "0", "limit"},
		{"limit 101", "limit", "101", "limit"},
		{"limit not a number", "limit", "ten", "limit"},
		{"page 0", "page", "0", "page"},
		{"page negative", "page", "-1", "page"},
		{"sortBy unknown", "sortBy", "email", "sortBy"},
		{"sortOrder unknown", "sortOrder", "up", "sortOrder"},
		{"filter not JSON", "filter", "status=active", "filter"},
		{"filter not strings", "filter", `{"status":1}`, "filter"},
		{"filter unknown key", "filter", `{"email":"a@b"}`, "filter.email"},
		{"filter unknown status", "filter", `{"status":"paused"}`, "filter.status"},
	}
	s := newServer(t)
	token := s.AddUser("alice")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := list(t, s, token, url.Values{tc.param: {tc.value}})
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", r.status)
			}
			eb := r.errorBody(t)
			if eb.Error != "BadRequestError" || len(eb.Errors) != 1 || eb.Errors[0].Field != tc.field {
				t.Errorf("body %+v, want one error on %s", eb, tc.field)
			}
		})
	}
}

// TestListFilterAndSort pins filter (URL-encoded JSON) and the sort keys.
func TestListFilterAndSort(t *testing.T) {
	s := newServer(t)
	token := s.AddUser("alice")
	s.SeedConnections("alice", 20) // i%5 == 4 expired: 4 of 20
	s.SeedConnections("bob", 5)

	_, lr := list(t, s, token, url.Values{"filter": {`{"status":"expired"}`}, "limit": {"100"}})
	if len(lr.Data) != 4 || lr.Pagination["total"] != 4.0 {
		t.Fatalf("expired filter: %d connections, pagination %v", len(lr.Data), lr.Pagination)
	}
	for _, c := range lr.Data {
		if c.Status != bluenexus.StatusExpired {
			t.Errorf("filter let through %s", c.Status)
		}
	}
	_, lr = list(t, s, token, url.Values{"filter": {`{"status":"active","providerId":"slack"}`}})
	for _, c := range lr.Data {
		if c.Status != bluenexus.StatusActive || c.ProviderID != "slack" {
			t.Errorf("combined filter let through %s %s", c.ProviderID, c.Status)
		}
	}
	if len(lr.Data) == 0 {
		t.Errorf("combined filter matched nothing")
	}

	sorted := func(q url.Values, less func(a, b bluenexus.Connection) bool) {
		t.Helper()
		q.Set("limit", "100")
		_, lr := list(t, s, token, q)
		if len(lr.Data) != 20 {
			t.Fatalf("%v: %d connections", q, len(lr.Data))
		}
		for i := 1; i < len(lr.Data); i++ {
			if less(lr.Data[i], lr.Data[i-1]) {
				t.Fatalf("%v: not sorted at %d", q, i)
			}
		}
	}
	sorted(url.Values{"sortBy": {"createdAt"}, "sortOrder": {"asc"}}, func(a, b bluenexus.Connection) bool { return a.CreatedAt.Before(b.CreatedAt) })
	sorted(url.Values{"sortBy": {"providerId"}, "sortOrder": {"asc"}}, func(a, b bluenexus.Connection) bool { return a.ProviderID < b.ProviderID })
	sorted(url.Values{"sortBy": {"providerId"}, "sortOrder": {"desc"}}, func(a, b bluenexus.Connection) bool { return a.ProviderID > b.ProviderID })
	sorted(url.Values{"sortBy": {"updatedAt"}}, func(a, b bluenexus.Connection) bool { return a.UpdatedAt.After(b.UpdatedAt) })
}

// TestConnectionByID pins GET and refresh of one connection, and 404
// NotFoundError for unknown ids and other users' connections.
func TestConnectionByID(t *testing.T) {
	clock := newFakeClock()
	s := newServer(t, bluenexustest.WithClock(clock.Now))
	alice := s.AddUser("alice")
	mine := s.Connect("alice", "google")
	bobs := s.Connect("bob", "notion")

	r := apiCall(t, s, http.MethodGet, bluenexustest.PathConnections+"/"+mine.ID, alice)
	var got bluenexus.Connection
	if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &got) != nil || got.ID != mine.ID || got.Metadata.Email != "alice+google@example.com" {
		t.Fatalf("get own: %d %s", r.status, r.body)
	}

	clock.Advance(time.Hour)
	r = apiCall(t, s, http.MethodPut, bluenexustest.PathConnections+"/"+mine.ID+"/refresh", alice)
	if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &got) != nil {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	if !got.UpdatedAt.Equal(clock.Now()) || !got.ExpiresAt.Equal(clock.Now().Add(time.Hour)) || got.Status != bluenexus.StatusActive {
		t.Errorf("refresh: updatedAt %v expiresAt %v status %s", got.UpdatedAt, got.ExpiresAt, got.Status)
	}
	if c := s.Connections("alice")[0]; !c.UpdatedAt.Equal(clock.Now()) {
		t.Errorf("refresh not stored")
	}

	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/" + bobs.ID},
		{http.MethodPut, "/" + bobs.ID + "/refresh"},
		{http.MethodGet, "/conn_unknown"},
		{http.MethodPut, "/conn_unknown/refresh"},
	} {
		r := apiCall(t, s, tc.method, bluenexustest.PathConnections+tc.path, alice)
		if eb := r.errorBody(t); r.status != http.StatusNotFound || eb.Error != "NotFoundError" || eb.StatusCode != 404 {
			t.Errorf("%s %s: %d %+v", tc.method, tc.path, r.status, eb)
		}
	}
}

// TestAPIRouting answers wrong methods with 405 and unknown API paths with
// 404, both as JSON error bodies.
func TestAPIRouting(t *testing.T) {
	s := newServer(t)
	token := s.AddUser("alice")
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodGet, bluenexustest.PathHandoffInit, 405, "POST"},
		{http.MethodPost, bluenexustest.PathConnections, 405, "GET"},
		{http.MethodDelete, bluenexustest.PathConnections + "/x", 405, "GET"},
		{http.MethodGet, bluenexustest.PathConnections + "/x/refresh", 405, "PUT"},
		{http.MethodGet, "/api/v1/unknown", 404, ""},
	}
	for _, tc := range tests {
		r := apiCall(t, s, tc.method, tc.path, token)
		if eb := r.errorBody(t); r.status != tc.status || eb.StatusCode != tc.status || r.header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d Allow %q %+v", tc.method, tc.path, r.status, r.header.Get("Allow"), eb)
		}
	}
}

// TestConcurrentUse runs flows and lists in parallel under the race detector.
func TestConcurrentUse(t *testing.T) {
	s := newServer(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			name := fmt.Sprintf("user%d", i)
			token := s.AddUser(name)
			b, csrf := startSession(t, s, token, "https://app.example/r")
			post(t, b, s, bluenexustest.PathWhiteLabelConnect, url.Values{"csrf_token": {csrf}, "provider": {"github"}})
			s.SeedConnections(name, 10)
			list(t, s, token, url.Values{"limit": {"5"}})
			_ = s.Hits(bluenexustest.PathConnections)
			s.Inject("/unused", bluenexustest.Status(500))
		})
	}
	wg.Wait()
	if got := s.Hits(bluenexustest.PathHandoffInit); got != 8 {
		t.Errorf("Hits(init) = %d, want 8", got)
	}
	for i := range 8 {
		if n := len(s.Connections(fmt.Sprintf("user%d", i))); n != 11 {
			t.Errorf("user%d has %d connections, want 11", i, n)
		}
	}
}

// TestOptionsValidated: New names the bad option.
func TestOptionsValidated(t *testing.T) {
	tests := []struct {
		name string
		opt  bluenexustest.Option
		want string
	}{
		{"zero TTL", bluenexustest.WithCodeTTL(0), "WithCodeTTL"},
		{"nil clock", bluenexustest.WithClock(nil), "WithClock"},
		{"bad header", bluenexustest.WithClientIPHeader("X Bad"), "WithClientIPHeader"},
		{"bad addr", bluenexustest.WithAddr("nope"), "WithAddr"},
		{"bad shape", bluenexustest.WithPaginationShape("cursor"), "WithPaginationShape"},
		{"bad user", bluenexustest.WithUser("a b"), "user name"},
		{"short token", bluenexustest.WithUserToken("alice", "short"), "token"},
		{"token with space", bluenexustest.WithUserToken("alice", "bnx_ abcdefgh"), "token"},
		{"zero token TTL", bluenexustest.WithTokenTTL(0), "WithTokenTTL"},
		{"sub-second token TTL", bluenexustest.WithTokenTTL(500 * time.Millisecond), "WithTokenTTL"},
		{"zero refresh TTL", bluenexustest.WithRefreshTTL(0), "WithRefreshTTL"},
		{"empty client id", bluenexustest.WithClientCredentials("", "secret"), "WithClientCredentials"},
		{"client id with newline", bluenexustest.WithClientCredentials("app\n", "secret"), "WithClientCredentials"},
		{"client secret with newline", bluenexustest.WithClientCredentials("app", "s3cret\n"), "WithClientCredentials"},
		{"client secret too long", bluenexustest.WithClientCredentials("app", strings.Repeat("s", 257)), "WithClientCredentials"},
		{"no domains", bluenexustest.WithAllowedDomains(), "WithAllowedDomains"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := bluenexustest.New(tc.opt)
			if err == nil {
				s.Close()
				t.Fatal("New succeeded")
			}
			if !strings.HasPrefix(err.Error(), "bluenexustest: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to name %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q quotes the secret", err)
			}
		})
	}
	_, err := bluenexustest.New(bluenexustest.WithUserToken("alice", "bnx_fixed_token"), bluenexustest.WithUserToken("bob", "bnx_fixed_token"))
	if err == nil || !strings.Contains(err.Error(), "share a token") {
		t.Errorf("shared token: %v", err)
	}
}

// TestWithUserToken serves a fixed token.
func TestWithUserToken(t *testing.T) {
	s := newServer(t, bluenexustest.WithUserToken("alice", "bnx_fixed_alice_token"))
	if got := s.AddUser("alice"); got.Reveal() != "bnx_fixed_alice_token" {
		t.Fatalf("AddUser = %q", got.Reveal())
	}
	if r := apiCall(t, s, http.MethodGet, bluenexustest.PathConnections, "bnx_fixed_alice_token"); r.status != http.StatusOK {
		t.Fatalf("status %d", r.status)
	}
}

// TestURLs pins URL, WhiteLabelURL and the unspecified-address rewrite.
func TestURLs(t *testing.T) {
	s := newServer(t, bluenexustest.WithAddr("0.0.0.0:0"))
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") || s.WhiteLabelURL() != s.URL()+"/white-label" {
		t.Errorf("URL %q WhiteLabelURL %q", s.URL(), s.WhiteLabelURL())
	}
}
