package bluenexus_test

import (
	"context"
	"errors"
	"testing"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/bluenexus/bluenexustest"
)

// TestRefreshAgainstTheEmulator runs Refresh against the emulator's token
// endpoint: rotation, a replay, the app's client refused, and the faults
// the emulator can play, each with its exact classification (SECURITY.md
// E6 to E8).
func TestRefreshAgainstTheEmulator(t *testing.T) {
	type class int
	const (
		ok           class = iota // a new pair
		spent                     // ErrReauthRequired and ErrBadResponse
		reauth                    // *APIError, ErrReauthRequired
		clientConfig              // *APIError, ErrClientConfig
		kept                      // *APIError, no sentinel
		transport                 // ErrConnection
	)
	tests := []struct {
		name   string
		fault  *bluenexustest.Fault
		replay bool   // present the refresh token a second time
		secret string // the client's secret, "" for the emulator's
		want   class
		status int
	}{
		{name: "rotation", want: ok},
		{name: "replay", replay: true, want: reauth, status: 400},
		{name: "wrong client secret", secret: "not-the-secret", want: clientConfig, status: 401},
		{name: "200 malformed JSON", fault: &bluenexustest.Fault{Malformed: true}, want: spent},
		{name: "200 over the cap", fault: &bluenexustest.Fault{Oversize: 2 << 20}, want: spent},
		{name: "200 HTML", fault: &bluenexustest.Fault{WrongContentType: true}, want: spent},
		{name: "reset after sending", fault: &bluenexustest.Fault{Reset: true}, want: transport},
		{name: "429", fault: &bluenexustest.Fault{Status: 429}, want: kept, status: 429},
		{name: "503", fault: &bluenexustest.Fault{Status: 503}, want: kept, status: 503},
		{name: "400 without an OAuth code", fault: &bluenexustest.Fault{Status: 400}, want: kept, status: 400},
		{name: "401 without an OAuth code", fault: &bluenexustest.Fault{Status: 401}, want: kept, status: 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			emu := bluenexustest.NewServer()
			t.Cleanup(emu.Close)
			id, secret := emu.ClientCredentials()
			if tc.secret != "" {
				secret = tc.secret
			}
			c, err := bluenexus.NewClient(bluenexus.WithBaseURL(emu.URL()), bluenexus.WithClientCredentials(id, secret), bluenexus.WithoutBreaker())
			if err != nil {
				t.Fatal(err)
			}
			pair := emu.SignIn("alice")
			if tc.replay {
				if _, err := c.Refresh(context.Background(), pair.RefreshToken); err != nil {
					t.Fatal(err)
				}
			}
			if tc.fault != nil {
				emu.Inject(bluenexustest.PathToken, *tc.fault)
			}
			tok, err := c.Refresh(context.Background(), pair.RefreshToken)
			ae, isAPI := errors.AsType[*bluenexus.APIError](err)
			var got class
			switch {
			case err == nil:
				got = ok
			case errors.Is(err, bluenexus.ErrReauthRequired) && errors.Is(err, bluenexus.ErrBadResponse) && !isAPI:
				got = spent
			case isAPI && errors.Is(err, bluenexus.ErrReauthRequired) && !errors.Is(err, bluenexus.ErrClientConfig):
				got = reauth
			case isAPI && errors.Is(err, bluenexus.ErrClientConfig) && !errors.Is(err, bluenexus.ErrReauthRequired):
				got = clientConfig
			case isAPI && !errors.Is(err, bluenexus.ErrReauthRequired) && !errors.Is(err, bluenexus.ErrClientConfig):
				got = kept
			case errors.Is(err, bluenexus.ErrConnection) && !errors.Is(err, bluenexus.ErrReauthRequired):
				got = transport
			default:
				t.Fatalf("unclassified error %v", err)
			}
			if got != tc.want {
				t.Fatalf("error %v: class %d, want %d", err, got, tc.want)
			}
			if isAPI && ae.StatusCode != tc.status {
				t.Errorf("status %d, want %d", ae.StatusCode, tc.status)
			}
			if got == ok && (tok.RefreshToken == pair.RefreshToken || tok.AccessToken == "" || tok.Expiry.IsZero()) {
				t.Errorf("not a new pair: %+v", tok)
			}
		})
	}
}

// TestRefresh_RFC6749_2_3_1AgainstTheEmulator: a client id and secret with
// characters that RFC 6749 section 2.3.1 requires to be form-encoded before
// HTTP Basic authenticate against the emulator, which decodes them so (it
// takes printable ASCII only; TestRefresh_BasicAuthIsFormEncoded checks the
// header byte for byte, non-ASCII included).
func TestRefresh_RFC6749_2_3_1AgainstTheEmulator(t *testing.T) {
	const id, secret = "app:1 %+x&y=z", "s3:cr%2B+t /~*"
	emu := bluenexustest.NewServer(bluenexustest.WithClientCredentials(id, secret))
	t.Cleanup(emu.Close)
	c, err := bluenexus.NewClient(bluenexus.WithBaseURL(emu.URL()), bluenexus.WithClientCredentials(id, secret))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Refresh(context.Background(), emu.SignIn("alice").RefreshToken); err != nil {
		t.Fatal(err)
	}
}
