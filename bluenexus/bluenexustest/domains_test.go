package bluenexustest_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
)

// TestAllowedDomains pins WithAllowedDomains and its default: handoff init
// refuses a redirectUri outside the white-label client's allowed domains
// with a 400 validation error on redirectUri (BLUENEXUS.md 6, "Domains:
// allowed domains for this client").
func TestAllowedDomains(t *testing.T) {
	tests := []struct {
		name    string
		domains []string // nil: the default
		uri     string
		ok      bool
	}{
		{"default: localhost", nil, "http://localhost:3000/return", true},
		{"default: 127.0.0.0/8", nil, "http://127.9.8.7:8080/return", true},
		{"default: https on loopback", nil, "https://127.0.0.1:8443/return", true},
		{"default: ::1", nil, "http://[::1]:8080/return", true},
		{"default: mapped loopback", nil, "http://[::ffff:127.0.0.1]/return", true},
		{"default: app.example.com", nil, "https://app.example.com/connections/return", true},
		{"default: app.example", nil, "https://APP.example:8443/r", true},
		{"default: trailing dot", nil, "https://app.example.com./r", true},
		{"default: any custom scheme", nil, "yourapp://connections", true},
		{"default: another custom scheme", nil, "com.example.app:/oauth/return", true},
		{"default: other host", nil, "https://evil.example/return", false},
		{"default: subdomain of a listed host", nil, "https://x.app.example.com/return", false},
		{"default: suffix trick", nil, "https://app.example.com.evil.example/return", false},
		{"default: real domain", nil, "https://myapp.com/return", false},

		{"exact host", []string{"myapp.com"}, "https://myapp.com/return", true},
		{"exact host ignores case and port", []string{"MyApp.com"}, "https://myapp.COM:444/return", true},
		{"exact host, not its subdomains", []string{"myapp.com"}, "https://www.myapp.com/return", false},
		{"list replaces the default", []string{"myapp.com"}, "http://localhost/return", false},
		{"wildcard subdomain", []string{"*.myapp.com"}, "https://eu.www.myapp.com/return", true},
		{"wildcard, not the domain itself", []string{"*.myapp.com"}, "https://myapp.com/return", false},
		{"wildcard, not a lookalike", []string{"*.myapp.com"}, "https://evilmyapp.com/return", false},
		{"CIDR", []string{"10.0.0.0/8"}, "https://10.1.2.3/return", true},
		{"CIDR, outside", []string{"10.0.0.0/8"}, "https://11.1.2.3/return", false},
		{"IPv6 address", []string{"2001:db8::1"}, "https://[2001:db8::1]/return", true},
		{"http stays loopback only", []string{"myapp.com"}, "http://myapp.com/return", false},
		{"no scheme listed: any custom scheme", []string{"myapp.com"}, "yourapp://connections", true},
		{"scheme listed", []string{"myapp.com", "yourapp://"}, "yourapp://connections", true},
		{"scheme listed, case", []string{"YourApp://"}, "yourapp://connections", true},
		{"another scheme refused", []string{"myapp.com", "yourapp://"}, "evilapp://connections", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var opts []bluenexustest.Option
			if tc.domains != nil {
				opts = append(opts, bluenexustest.WithAllowedDomains(tc.domains...))
			}
			s := newServer(t, opts...)
			r := do(t, apiClient(t), initRequest(t, s, s.AddUser("alice"), initBody(tc.uri)))
			if tc.ok {
				if r.status != http.StatusOK {
					t.Fatalf("refused: %d %s", r.status, r.body)
				}
				return
			}
			if r.status != http.StatusBadRequest {
				t.Fatalf("accepted: %d %s", r.status, r.body)
			}
			eb := r.errorBody(t)
			if eb.Error != "BadRequestError" || eb.StatusCode != 400 || len(eb.Errors) != 1 || eb.Errors[0].Field != "redirectUri" || eb.Errors[0].Value != tc.uri {
				t.Errorf("body %s, want one error on redirectUri", r.body)
			}
		})
	}
}

// TestAllowedDomainsValidated: New names WithAllowedDomains and the bad
// entry.
func TestAllowedDomainsValidated(t *testing.T) {
	for _, bad := range [][]string{
		{}, {""}, {"https://myapp.com"}, {"myapp.com/path"}, {"myapp.com:443"}, {"my app.com"},
		{"*."}, {"*.*.myapp.com"}, {"10.0.0.0/33"}, {"fe80::1%eth0"}, {"http://"}, {"javascript://"},
		{"1app://"}, {"a://"}, {"user@myapp.com"}, {strings.Repeat("a", 64) + ".com"},
	} {
		t.Run(fmt.Sprintf("%q", bad), func(t *testing.T) {
			s, err := bluenexustest.New(bluenexustest.WithAllowedDomains(bad...))
			if err == nil {
				s.Close()
				t.Fatal("New accepted it")
			}
			if !strings.HasPrefix(err.Error(), "bluenexustest: WithAllowedDomains: ") {
				t.Errorf("error %q", err)
			}
		})
	}
}
