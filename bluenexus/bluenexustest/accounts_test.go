package bluenexustest_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
)

// TestReconnectUpdates pins the Go API: connecting a provider account that
// is already connected updates that connection; another account of the
// same provider is a second connection with its own providerUserId and
// email; an account removed and connected again keeps its providerUserId.
func TestReconnectUpdates(t *testing.T) {
	clock := newFakeClock()
	s := newServer(t, bluenexustest.WithClock(clock.Now))
	s.SeedConnections("alice", 5) // google, notion, slack, github, then an expired google
	seeded := s.Connections("alice")
	if seeded[4].ProviderID != "google" || seeded[4].Status != bluenexus.StatusExpired || seeded[4].Metadata.Email != "alice+google2@example.com" {
		t.Fatalf("seeded %+v", seeded[4])
	}
	if seeded[0].ProviderUserID == seeded[4].ProviderUserID {
		t.Errorf("two accounts share a providerUserId")
	}

	clock.Advance(time.Hour)
	again := s.ConnectAccount("alice", "google", 2) // reconnect the expired one
	conns := s.Connections("alice")
	if len(conns) != 5 || again.ID != seeded[4].ID || again.Status != bluenexus.StatusActive ||
		!again.UpdatedAt.Equal(clock.Now()) || !again.CreatedAt.Equal(seeded[4].CreatedAt) || !again.ExpiresAt.Equal(clock.Now().Add(time.Hour)) ||
		again.ProviderUserID != seeded[4].ProviderUserID {
		t.Fatalf("reconnect: %d connections, %+v", len(conns), again)
	}
	if c := s.Connect("alice", "google"); c.ID != seeded[0].ID || len(s.Connections("alice")) != 5 {
		t.Errorf("Connect of the primary account duplicated it")
	}
	third := s.ConnectAccount("alice", "google", 3)
	if len(s.Connections("alice")) != 6 || third.Metadata.Email != "alice+google3@example.com" {
		t.Errorf("account 3: %+v", third)
	}
	ids := map[string]bool{}
	for _, c := range s.Connections("alice") {
		key := c.ProviderID + "/" + c.ProviderUserID
		if ids[key] || ids[c.Metadata.Email] {
			t.Errorf("duplicate account %s %s", key, c.Metadata.Email)
		}
		ids[key], ids[c.Metadata.Email] = true, true
	}
	// SeedConnections always adds new accounts.
	s.SeedConnections("alice", 4)
	if n := len(s.Connections("alice")); n != 10 {
		t.Errorf("after a second seed: %d connections, want 10", n)
	}
	if got := s.Connections("alice")[6].Metadata.Email; got != "alice+google4@example.com" {
		t.Errorf("next seeded google account %q", got)
	}
	// Bob's accounts are his own.
	if b := s.Connect("bob", "google"); b.ProviderUserID == seeded[0].ProviderUserID || b.Metadata.Email != "bob+google@example.com" {
		t.Errorf("bob's account %+v", b)
	}
	defer func() {
		if recover() == nil {
			t.Errorf("ConnectAccount(0) did not panic")
		}
	}()
	s.ConnectAccount("alice", "google", 0)
}

// TestWhiteLabelAccounts pins the connect form's account field: absent
// connects (or reconnects) the primary account, "new" adds another
// account, a number reconnects that account, anything else is refused.
func TestWhiteLabelAccounts(t *testing.T) {
	type step struct {
		account []string // nil: no account field
		status  int
		flash   string
	}
	tests := []struct {
		name   string
		steps  []step
		emails []string // the google connections afterwards, oldest first
	}{
		{"connect", []step{{nil, 303, "Connected Google."}}, []string{"alice+google@example.com"}},
		{"connect twice reconnects", []step{{nil, 303, "Connected Google."}, {nil, 303, "Reconnected Google (alice+google@example.com)."}},
			[]string{"alice+google@example.com"}},
		{"empty account is the primary", []step{{[]string{""}, 303, "Connected Google."}, {[]string{"1"}, 303, "Reconnected Google"}},
			[]string{"alice+google@example.com"}},
		{"add another account", []step{{nil, 303, ""}, {[]string{"new"}, 303, "Connected another Google account (alice+google2@example.com)."}, {[]string{"new"}, 303, "google3"}},
			[]string{"alice+google@example.com", "alice+google2@example.com", "alice+google3@example.com"}},
		{"new as the first account", []step{{[]string{"new"}, 303, "Connected Google."}}, []string{"alice+google@example.com"}},
		{"reconnect account 2", []step{{[]string{"new"}, 303, ""}, {[]string{"new"}, 303, ""}, {[]string{"2"}, 303, "Reconnected Google (alice+google2@example.com)."}},
			[]string{"alice+google@example.com", "alice+google2@example.com"}},
		{"account by number", []step{{[]string{"7"}, 303, "Connected another Google account (alice+google7@example.com)."}}, []string{"alice+google7@example.com"}},
		{"account 0", []step{{[]string{"0"}, 400, ""}}, nil},
		{"negative account", []step{{[]string{"-1"}, 400, ""}}, nil},
		{"padded account", []step{{[]string{"01"}, 400, ""}}, nil},
		{"account not a number", []step{{[]string{"work"}, 400, ""}}, nil},
		{"account too large", []step{{[]string{"99999999999"}, 400, ""}}, nil},
		{"account twice", []step{{[]string{"1", "2"}, 400, ""}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			b, csrf := startSession(t, s, s.AddUser("alice"), "https://app.example/return")
			for i, st := range tc.steps {
				form := url.Values{"csrf_token": {csrf}, "provider": {"google"}}
				if st.account != nil {
					form["account"] = st.account
				}
				r := post(t, b, s, bluenexustest.PathWhiteLabelConnect, form)
				if r.status != st.status {
					t.Fatalf("step %d: status %d, want %d; body %s", i, r.status, st.status, r.body)
				}
				if st.flash != "" {
					if page := html.UnescapeString(getPage(t, b, s).body); !strings.Contains(page, st.flash) {
						t.Errorf("step %d: page lacks %q", i, st.flash)
					}
				}
			}
			var emails []string
			for _, c := range s.Connections("alice") {
				emails = append(emails, c.Metadata.Email)
			}
			if strings.Join(emails, " ") != strings.Join(tc.emails, " ") {
				t.Errorf("connections %v, want %v", emails, tc.emails)
			}
		})
	}
}

// TestWhiteLabelPageForms pins the form contract docs/emulator.md
// publishes: field names and actions of every form on the page.
func TestWhiteLabelPageForms(t *testing.T) {
	s := newServer(t)
	c := s.Connect("alice", "notion")
	b, csrf := startSession(t, s, s.AddUser("alice"), "https://app.example/return")
	page := html.UnescapeString(getPage(t, b, s).body)
	for _, want := range []string{
		`<form method="post" action="/white-label/connect" class="connect">`,
		`<select id="provider" name="provider" required>`,
		`<option value="google">Google</option>`, `<option value="notion">Notion</option>`,
		`<option value="slack">Slack</option>`, `<option value="github">GitHub</option>`,
		`<button type="submit">Connect</button>`,
		`<button type="submit" name="account" value="new" class="quiet">Add another account</button>`,
		`<input type="hidden" name="provider" value="notion">`,
		`<input type="hidden" name="account" value="1">`,
		`aria-label="Reconnect Notion (alice+notion@example.com)">Reconnect</button>`,
		`<form method="post" action="/white-label/remove">`,
		`<input type="hidden" name="id" value="` + c.ID + `">`,
		`aria-label="Remove Notion (alice+notion@example.com)">Remove</button>`,
		`<form method="post" action="/white-label/done" class="done">`,
		`<input type="hidden" name="csrf_token" value="` + csrf + `">`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	// The Connect button comes before Add another account, so that a
	// browser's Enter (and the first submit button) connects the primary.
	if strings.Index(page, ">Connect</button>") > strings.Index(page, ">Add another account</button>") {
		t.Errorf("Add another account comes first")
	}
	// The Reconnect button of a row reconnects its account.
	s.AdvanceClock(time.Minute)
	if r := post(t, b, s, bluenexustest.PathWhiteLabelConnect, url.Values{"csrf_token": {csrf}, "provider": {"notion"}, "account": {"1"}}); r.status != http.StatusSeeOther {
		t.Fatalf("reconnect: %d", r.status)
	}
	if got := s.Connections("alice"); len(got) != 1 || got[0].ID != c.ID || !got[0].UpdatedAt.After(c.UpdatedAt) {
		t.Errorf("reconnect: %+v", got)
	}
}
