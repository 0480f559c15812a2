package bluenexus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxTokenLife bounds a believable expires_in or refresh_expires_in (ten
// years); it also keeps the arithmetic far from overflow.
const maxTokenLife = 10 * 365 * 24 * time.Hour

// defaultTokenLife is the access token life assumed when a token answer has
// no usable expires_in: BlueNexus's documented 15 minutes.
const defaultTokenLife = 15 * time.Minute

// Refresh trades a refresh token for a new [Token] at the token endpoint,
// as the client of [WithClientCredentials]; callers serialise refreshes
// per user ([TokenSource] does). Errors matching [ErrReauthRequired] mean
// rt is dead; docs/tokens.md says what each answer means.
func (c *Client) Refresh(ctx context.Context, rt RefreshToken) (Token, error) {
	cr, v := c.creds, rt.Reveal()
	switch {
	case cr == nil:
		return Token{}, errors.New("bluenexus: Refresh: no client credentials: configure WithClientCredentials")
	case v == "":
		return Token{}, errors.New("bluenexus: Refresh: empty refresh token")
	case !isVSChars(v):
		return Token{}, errors.New("bluenexus: Refresh: refresh token has characters outside printable ASCII")
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {v}}
	if cr.secret == "" {
		form.Set("client_id", cr.id) // a public client
	}
	cl := &call{
		op:          "Refresh",
		method:      http.MethodPost,
		url:         c.tokenURL,
		body:        []byte(form.Encode()),
		contentType: "application/x-www-form-urlencoded",
		auth:        cr.basicAuth, // "" for a public client
		// what must never come back in an error: the refresh token and the
		// client secret, raw and form-encoded, and the Basic credentials
		secrets: func() []string {
			if cr.secret == "" {
				return []string{v, url.QueryEscape(v)}
			}
			return []string{v, url.QueryEscape(v), cr.secret, url.QueryEscape(cr.secret), strings.TrimPrefix(cr.basicAuth, "Basic ")}
		},
	}
	a, err := c.do(ctx, cl)
	switch {
	case err != nil && cl.got2xx:
		return Token{}, spentErr(err.Error())
	case err != nil:
		if ae, ok := err.(*APIError); ok {
			classifyRefreshError(ae)
			ae.Message, ae.Errors = "", nil // upstream text may echo a secret
		}
		return Token{}, err
	}
	return decodeToken(a.body, a.sent, rt)
}

// classifyRefreshError marks the token endpoint's error answers (RFC 6749
// section 5.2) that mean "sign in again" or blame the app's client.
func classifyRefreshError(e *APIError) {
	status := e.StatusCode
	if status < 400 || status > 499 || status == http.StatusTooManyRequests {
		return
	}
	switch strings.ToLower(e.Code) {
	case "invalid_grant":
		e.reauth = true
	case "invalid_client", "unauthorized_client", "unsupported_grant_type":
		e.clientConfig = status == http.StatusBadRequest || status == http.StatusUnauthorized
	default: // the API's shape: {"error":"UnauthorizedError","message":"Session revoked"}
		e.reauth = (status == http.StatusBadRequest || status == http.StatusUnauthorized) &&
			strings.Contains(strings.ToLower(e.Message), "revoked")
	}
}

// spentErr is the error of a 2xx answer to a refresh that holds no pair
// the client can use: the refresh token is spent, the user must sign in again.
func spentErr(why string) error {
	return fmt.Errorf("bluenexus: Refresh: the refresh token was spent on an answer the kit could not use: %s (%w, %w)", why, ErrReauthRequired, ErrBadResponse)
}

// decodeToken reads a token response to the refresh of rt. sent is when
// the request left. Errors are spentErr's and never quote the body.
func decodeToken(body []byte, sent time.Time, rt RefreshToken) (Token, error) {
	bad := func(why string) (Token, error) { return Token{}, spentErr(why) }
	// The token endpoint's 200 body. The numbers are raw so that a quoted,
	// null or nonsensical one means "not given".
	var r struct {
		TokenType        string          `json:"token_type"`
		AccessToken      string          `json:"access_token"`
		ExpiresIn        json.RawMessage `json:"expires_in"`
		RefreshToken     string          `json:"refresh_token"`
		RefreshExpiresIn json.RawMessage `json:"refresh_expires_in"`
		Scope            string          `json:"scope"`
	}
	if json.Unmarshal(body, &r) != nil {
		return bad("malformed JSON")
	}
	switch {
	case r.AccessToken == "":
		return bad("no access_token")
	case !isHeaderSafe(r.AccessToken):
		return bad("access_token is not usable as a bearer token")
	case !isVSChars(r.RefreshToken):
		return bad("refresh_token has characters outside printable ASCII")
	case r.TokenType != "" && !strings.EqualFold(r.TokenType, "Bearer"):
		return bad("token_type is not Bearer")
	}
	t := Token{AccessToken: AccessToken(r.AccessToken), RefreshToken: RefreshToken(r.RefreshToken), Scope: r.Scope}
	if t.RefreshToken == "" {
		t.RefreshToken = rt // not rotated (RFC 6749 section 6)
	}
	life, ok := seconds(r.ExpiresIn)
	if !ok {
		life = defaultTokenLife // RFC 6749 section 5.1: RECOMMENDED, not required
	}
	t.Expiry = sent.Add(life)
	if life, ok := seconds(r.RefreshExpiresIn); ok {
		t.RefreshExpiry = sent.Add(life)
	}
	return t, nil
}

// seconds reads a positive number of seconds of at most maxTokenLife, bare
// or quoted.
func seconds(raw json.RawMessage) (time.Duration, bool) {
	s, err := strconv.ParseFloat(strings.Trim(string(raw), `"`), 64)
	if err != nil || !(s > 0 && s <= maxTokenLife.Seconds()) { // NaN too
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
