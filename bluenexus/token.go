package bluenexus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxTokenLife bounds a believable expires_in or refresh_expires_in (ten
// years); it also keeps the arithmetic far from overflow.
const maxTokenLife = 10 * 365 * 24 * time.Hour

// Refresh trades a refresh token for a new [Token]: POST
// /api/v1/auth/token, form-encoded grant_type=refresh_token and
// refresh_token, as the client of [WithClientCredentials] (HTTP Basic when
// it has a secret, client_id in the form when it is public). Refresh tokens
// are single use: store the returned RefreshToken at once, before using the
// AccessToken; the one presented no longer works, and presenting it again
// is replay, which may revoke the user's whole auth session. So that two
// requests never spend the same refresh token, callers serialise refreshes
// per user (SECURITY.md E1); Refresh itself keeps no state.
//
// Without [WithClientCredentials], or with an empty refresh token or one
// outside printable ASCII, Refresh fails before any I/O with an error that
// starts "bluenexus: Refresh: ".
//
// The call has the same time budget, circuit breaker and 1 MiB body cap as
// every other, and is resent only after a dial error (the request never
// left). The refresh token, the client secret and any token in an error
// body never appear in an error.
//
// Errors: when BlueNexus refuses the refresh token as invalid, expired or
// replayed, or its session was revoked, the [*APIError] matches
// [ErrReauthRequired]: the user must sign in again, and no retry can help.
// That is an answer of status 400 or 401, or any 4xx with the OAuth error
// code "invalid_grant". BlueNexus does not publish its token endpoint's
// errors; this follows the kit's reading of its docs (BLUENEXUS.md section
// 6: "invalid_grant, a 400/401 on refresh, or a revoked session all mean
// sign in again") and RFC 6749 section 5.2, which answers an expired,
// revoked or reused grant with 400 invalid_grant. Inferred beyond that: the
// OAuth codes invalid_client, unauthorized_client and
// unsupported_grant_type blame the app's client configuration, not the
// user's grant, so they are never ErrReauthRequired (signing in again would
// end in the same error). A 429 or 5xx is an ordinary upstream error: an
// *APIError with its status and RetryAfter.
//
// A 2xx answer must carry access_token (usable as a bearer token),
// refresh_token and a positive expires_in, and a token_type, when present,
// of Bearer; otherwise it is [ErrBadResponse]. Expiry and RefreshExpiry
// count from the moment the request was sent.
func (c *Client) Refresh(ctx context.Context, rt RefreshToken) (Token, error) {
	const op = "Refresh"
	cr := c.creds
	if cr == nil {
		return Token{}, errors.New("bluenexus: Refresh: no client credentials: configure WithClientCredentials")
	}
	v := rt.Reveal()
	if v == "" {
		return Token{}, errors.New("bluenexus: Refresh: empty refresh token")
	}
	if !isVSChars(v) {
		return Token{}, errors.New("bluenexus: Refresh: refresh token has characters outside printable ASCII")
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {v}}
	if cr.secret == "" {
		form.Set("client_id", cr.id) // a public client
	}
	resp, sent, err := c.do(ctx, &call{
		op:          op,
		method:      http.MethodPost,
		url:         c.tokenURL,
		body:        []byte(form.Encode()),
		contentType: "application/x-www-form-urlencoded",
		auth:        cr.basicAuth, // "" for a public client
		retry:       retryDial,
		secrets:     func() []string { return cr.secrets(v) },
	})
	if err != nil {
		if ae, ok := err.(*APIError); ok {
			ae.reauth = isReauth(ae)
		}
		return Token{}, err
	}
	return decodeToken(resp, sent)
}

// secrets lists what a token call must never let come back in an error:
// the refresh token and the client secret, raw and form-encoded, and the
// Basic credentials.
func (cr *credentials) secrets(rt string) []string {
	s := []string{rt, url.QueryEscape(rt)}
	if cr.secret != "" {
		s = append(s, cr.secret, url.QueryEscape(cr.secret), strings.TrimPrefix(cr.basicAuth, "Basic "))
	}
	return s
}

// clientFaultCodes are OAuth error codes (RFC 6749 section 5.2) that blame
// the app's client rather than the user's grant.
var clientFaultCodes = map[string]bool{
	"invalid_client":         true,
	"unauthorized_client":    true,
	"unsupported_grant_type": true,
}

// isReauth reports whether a token endpoint answer means the user must sign
// in again (see Refresh for what is published and what is inferred).
func isReauth(e *APIError) bool {
	code := strings.ToLower(e.Code)
	switch {
	case e.StatusCode < 400 || e.StatusCode > 499 || e.StatusCode == http.StatusTooManyRequests:
		return false
	case clientFaultCodes[code]:
		return false
	case code == "invalid_grant":
		return true
	}
	return e.StatusCode == http.StatusBadRequest || e.StatusCode == http.StatusUnauthorized
}

// tokenResponse is the token endpoint's 200 body. The numbers are
// json.Number so that a quoted number ("900") is read too.
type tokenResponse struct {
	TokenType        string      `json:"token_type"`
	AccessToken      string      `json:"access_token"`
	ExpiresIn        json.Number `json:"expires_in"`
	RefreshToken     string      `json:"refresh_token"`
	RefreshExpiresIn json.Number `json:"refresh_expires_in"`
	Scope            string      `json:"scope"`
}

// decodeToken reads a token response. sent is when the request left.
// Errors never quote the body.
func decodeToken(body []byte, sent time.Time) (Token, error) {
	bad := func(why string) (Token, error) {
		return Token{}, fmt.Errorf("%w: Refresh: %s", ErrBadResponse, why)
	}
	var r tokenResponse
	if json.Unmarshal(body, &r) != nil {
		return bad("malformed JSON")
	}
	switch {
	case r.AccessToken == "":
		return bad("no access_token")
	case !isHeaderSafe(r.AccessToken):
		return bad("access_token is not usable as a bearer token")
	case r.RefreshToken == "":
		return bad("no refresh_token")
	case !isVSChars(r.RefreshToken):
		return bad("refresh_token has characters outside printable ASCII")
	case r.TokenType != "" && !strings.EqualFold(r.TokenType, "Bearer"):
		return bad("token_type is not Bearer")
	}
	life, ok := seconds(r.ExpiresIn)
	if !ok {
		return bad("expires_in is not a positive number of seconds")
	}
	t := Token{
		AccessToken:  AccessToken(r.AccessToken),
		RefreshToken: RefreshToken(r.RefreshToken),
		Expiry:       sent.Add(life),
		Scope:        r.Scope,
	}
	if life, ok := seconds(r.RefreshExpiresIn); ok {
		t.RefreshExpiry = sent.Add(life)
	}
	return t, nil
}

// seconds reads a positive number of seconds of at most maxTokenLife.
func seconds(n json.Number) (time.Duration, bool) {
	s, err := n.Float64()
	if err != nil || s <= 0 || s > maxTokenLife.Seconds() {
		return 0, false
	}
	return time.Duration(s * float64(time.Second)), true
}

// isVSChars reports whether s is printable ASCII, spaces included: the
// characters RFC 6749 (appendix A) allows in tokens.
func isVSChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
