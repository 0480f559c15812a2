package bluenexustest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
	"github.com/handoffkit/handoffkit/internal/bnwire"
)

func TestWithClientIPHeaderNotHonoured(t *testing.T) {
	s := newServer(t, bluenexustest.WithClientIPHeaderNotHonoured())
	tok := s.AddUser("alice")
	tests := []struct {
		name    string
		headers []string
		ok      bool
	}{
		{name: "no_header", ok: true},
		{name: "the_callers_own_address", headers: []string{"X-Forwarded-For", "127.0.0.1"}, ok: true},
		{name: "another_address", headers: []string{"X-Forwarded-For", "203.0.113.77"}},
		{name: "another_address_last", headers: []string{"X-Forwarded-For", "127.0.0.1, 203.0.113.77"}},
		{name: "malformed", headers: []string{"X-Forwarded-For", "garbage"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, apiClient(t), initRequest(t, s, tok, initBody("https://app.example/r"), tc.headers...))
			if tc.ok {
				if r.status != http.StatusOK {
					t.Fatalf("status %d, body %s", r.status, r.body)
				}
				return
			}
			if eb := r.errorBody(t); r.status != http.StatusBadRequest || !strings.Contains(eb.Message, bnwire.ClientCriteriaMessage) {
				t.Fatalf("status %d, body %s; want the client-criteria error", r.status, r.body)
			}
		})
	}
	// The default honours the header: the same call is accepted.
	d := newServer(t)
	mustInit(t, d, d.AddUser("alice"), "https://app.example/r", "X-Forwarded-For", "203.0.113.77")
}
