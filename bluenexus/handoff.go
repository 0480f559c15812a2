package bluenexus

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// codeTTL is the published life of a handoff code, assumed when the
// response does not say.
const codeTTL = 30 * time.Second

// maxCodeLen bounds a handoff code: it goes into the white-label URL, and
// BlueNexus's codes are a few dozen bytes.
const maxCodeLen = 2048

// InitHandoff mints a handoff code: POST /api/v1/auth/handoff/init with
// the user's token, forwarding req.ClientIP in the client-IP header. The
// code's ExpiresAt is judged by BlueNexus's clock and counted from the send
// time; it may be in the past when BlueNexus says the code is dead
// (docs/BLUENEXUS.md section 5).
func (c *Client) InitHandoff(ctx context.Context, token AccessToken, req HandoffRequest) (Handoff, error) {
	const op = "InitHandoff"
	if err := checkToken(op, token); err != nil {
		return Handoff{}, err
	}
	if req.RedirectURI == "" {
		return Handoff{}, fmt.Errorf("bluenexus: %s: empty RedirectURI", op)
	}
	if req.Intent == "" {
		return Handoff{}, fmt.Errorf("bluenexus: %s: empty Intent", op)
	}
	var ip string
	if req.ClientIP.IsValid() {
		if req.ClientIP.IsUnspecified() {
			return Handoff{}, fmt.Errorf("bluenexus: %s: unspecified ClientIP", op)
		}
		ip = req.ClientIP.Unmap().WithZone("").String()
	}
	body, _ := json.Marshal(struct { // strings only: cannot fail
		RedirectURI string `json:"redirectUri"`
		Intent      Intent `json:"intent"`
	}{req.RedirectURI, req.Intent})
	a, err := c.do(ctx, &call{
		op:          op,
		method:      http.MethodPost,
		url:         c.initURL,
		body:        body,
		contentType: "application/json",
		auth:        "Bearer " + token.Reveal(),
		clientIP:    ip,
		retryAsked:  true,
		secrets:     func() []string { return bearerSecrets(token, req.RedirectURI) },
	})
	if err != nil {
		return Handoff{}, err
	}
	return decodeHandoff(a.body, a.sent, a.date)
}

// handoffResponse holds the names a handoff response may use, at the top
// level or inside "data" (the top level wins).
type handoffResponse struct {
	Code        string           `json:"code"`
	HandoffCode string           `json:"handoffCode"`
	ExpiresAt   json.RawMessage  `json:"expiresAt"`
	ExpiresIn   json.RawMessage  `json:"expiresIn"`
	Data        *handoffResponse `json:"data"`
}

// decodeHandoff reads a handoff init response (BLUENEXUS.md section 5).
// sent is when the request left, by the client's clock; date is the
// response's Date header, by BlueNexus's clock (zero when absent). Errors
// never quote the body.
func decodeHandoff(body []byte, sent, date time.Time) (Handoff, error) {
	var r handoffResponse
	if json.Unmarshal(body, &r) != nil {
		return Handoff{}, fmt.Errorf("%w: InitHandoff: malformed JSON", ErrBadResponse)
	}
	d := cmp.Or(r.Data, &handoffResponse{})
	if r.ExpiresIn == nil {
		r.ExpiresIn = d.ExpiresIn
	}
	if r.ExpiresAt == nil {
		r.ExpiresAt = d.ExpiresAt
	}
	code := Code(cmp.Or(r.Code, r.HandoffCode, d.Code, d.HandoffCode))
	switch {
	case code == "":
		return Handoff{}, fmt.Errorf("%w: InitHandoff: no handoff code in the response", ErrBadResponse)
	case len(code) > maxCodeLen:
		return Handoff{}, fmt.Errorf("%w: InitHandoff: handoff code over %d bytes", ErrBadResponse, maxCodeLen)
	}
	return Handoff{Code: code, ExpiresAt: sent.Add(life(&r, date))}, nil
}

// life reads how long the code lives, counted from the send time:
// expiresIn, else expiresAt less date (a second less: a Date has whole
// seconds, so the answer may be up to a second younger than it says), else
// 30 s. expiresAt is BlueNexus's clock and goes unused without date, its
// only sound reference. A code already dead (expiresIn <= 0, expiresAt
// within a second of date) has life 0; an expiresAt over a day after date
// is ignored.
func life(r *handoffResponse, date time.Time) time.Duration {
	if d, ok := parseExpiresIn(r.ExpiresIn); ok {
		return d // d >= 0
	}
	if t, ok := parseExpiresAt(r.ExpiresAt); ok && !date.IsZero() {
		switch d := t.Sub(date); {
		case d <= time.Second: // also the saturated Sub of a time centuries back
			return 0
		case d <= maxExpiresIn*time.Second:
			return d - time.Second
		}
	}
	return codeTTL
}

// maxExpiresIn bounds a believable code life; a larger expiresIn is
// ignored, like a missing one.
const maxExpiresIn = 86400

// parseExpiresIn reads a JSON number of seconds, at most a day. Zero and
// negative numbers are accepted and mean 0: the code is already dead.
// Strings, null and other values are ignored: raw is valid JSON (the
// decoder checked it), which strconv reads only when it is a number.
func parseExpiresIn(raw json.RawMessage) (time.Duration, bool) {
	s, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || s > maxExpiresIn {
		return 0, false
	}
	return time.Duration(max(s, 0) * float64(time.Second)), true
}

// parseExpiresAt reads an RFC 3339 time string.
func parseExpiresAt(raw json.RawMessage) (time.Time, bool) {
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, s)
	return t, err == nil
}

// checkToken rejects an empty token or one that cannot go in a header. The
// error never quotes the token.
func checkToken(op string, token AccessToken) error {
	t := token.Reveal()
	if t == "" {
		return fmt.Errorf("bluenexus: %s: empty access token", op)
	}
	if !isHeaderSafe(t) {
		return fmt.Errorf("bluenexus: %s: access token has characters not allowed in a header", op)
	}
	return nil
}

// isHeaderSafe reports whether t is printable ASCII without spaces, as a
// bearer token must be.
func isHeaderSafe(t string) bool { return isVSChars(t) && !strings.Contains(t, " ") }
