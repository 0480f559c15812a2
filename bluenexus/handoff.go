package bluenexus

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// codeTTL is the published life of a handoff code, assumed when the
// response does not say.
const codeTTL = 30 * time.Second

// InitHandoff mints a handoff code: POST /api/v1/auth/handoff/init with the
// user's token as bearer and {"redirectUri", "intent"} as body. A valid
// req.ClientIP travels in the client-IP header ([WithClientIPHeader]) in
// canonical form (IPv4-mapped addresses unmapped, zones dropped).
//
// The token must be non-empty printable ASCII without spaces, RedirectURI
// and Intent non-empty, and ClientIP, when set, not unspecified (0.0.0.0,
// ::); otherwise the call fails with [ErrInvalidRequest] before any I/O.
//
// The code is read from "code" or "handoffCode", at the top level or inside
// "data". Its expiry comes from "expiresIn" (seconds) or else "expiresAt"
// (RFC 3339); without either it is 30 s after the request was sent, which
// is never later than the true expiry. An empty code is [ErrBadResponse].
func (c *Client) InitHandoff(ctx context.Context, token AccessToken, req HandoffRequest) (Handoff, error) {
	const op = "InitHandoff"
	if err := checkToken(op, token); err != nil {
		return Handoff{}, err
	}
	if req.RedirectURI == "" {
		return Handoff{}, fmt.Errorf("%w: %s: empty RedirectURI", ErrInvalidRequest, op)
	}
	if req.Intent == "" {
		return Handoff{}, fmt.Errorf("%w: %s: empty Intent", ErrInvalidRequest, op)
	}
	var ip string
	if req.ClientIP.IsValid() {
		if req.ClientIP.IsUnspecified() {
			return Handoff{}, fmt.Errorf("%w: %s: unspecified ClientIP", ErrInvalidRequest, op)
		}
		ip = req.ClientIP.Unmap().WithZone("").String()
	}
	body, err := json.Marshal(handoffInitBody{RedirectURI: req.RedirectURI, Intent: req.Intent})
	if err != nil {
		return Handoff{}, fmt.Errorf("%w: %s: %w", ErrInvalidRequest, op, err)
	}

	resp, sent, err := c.do(ctx, &call{
		op:       op,
		method:   http.MethodPost,
		url:      c.initURL,
		body:     body,
		token:    token,
		redirect: req.RedirectURI,
		clientIP: ip,
		retry:    true,
	})
	if err != nil {
		return Handoff{}, err
	}
	return decodeHandoff(resp, sent)
}

type handoffInitBody struct {
	RedirectURI string `json:"redirectUri"`
	Intent      Intent `json:"intent"`
}

// handoffFields are the names a handoff response may use.
type handoffFields struct {
	Code        string          `json:"code"`
	HandoffCode string          `json:"handoffCode"`
	ExpiresAt   json.RawMessage `json:"expiresAt"`
	ExpiresIn   json.RawMessage `json:"expiresIn"`
}

type handoffResponse struct {
	handoffFields
	Data *handoffFields `json:"data"`
}

// decodeHandoff reads a handoff init response (BLUENEXUS.md section 5).
// sent is when the request left; expiresIn and the 30 s default count from
// it. Errors never quote the body.
func decodeHandoff(body []byte, sent time.Time) (Handoff, error) {
	var r handoffResponse
	if json.Unmarshal(body, &r) != nil {
		return Handoff{}, fmt.Errorf("%w: InitHandoff: malformed JSON", ErrBadResponse)
	}
	levels := []*handoffFields{&r.handoffFields}
	if r.Data != nil {
		levels = append(levels, r.Data)
	}
	var h Handoff
	for _, f := range levels {
		if h.Code == "" {
			h.Code = Code(f.Code)
		}
		if h.Code == "" {
			h.Code = Code(f.HandoffCode)
		}
	}
	if h.Code == "" {
		return Handoff{}, fmt.Errorf("%w: InitHandoff: no handoff code in the response", ErrBadResponse)
	}
	for _, f := range levels {
		if d, ok := parseExpiresIn(f.ExpiresIn); ok {
			h.ExpiresAt = sent.Add(d)
			return h, nil
		}
	}
	for _, f := range levels {
		if t, ok := parseExpiresAt(f.ExpiresAt); ok {
			h.ExpiresAt = t
			return h, nil
		}
	}
	h.ExpiresAt = sent.Add(codeTTL)
	return h, nil
}

// parseExpiresIn reads a positive number of seconds, at most a day.
func parseExpiresIn(raw json.RawMessage) (time.Duration, bool) {
	if len(raw) == 0 || raw[0] < '0' || raw[0] > '9' {
		return 0, false
	}
	s, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || s <= 0 || s > 86400 {
		return 0, false
	}
	return time.Duration(s * float64(time.Second)), true
}

// parseExpiresAt reads an RFC 3339 time string. A string without escapes
// (every valid timestamp) is read as it is, without a second JSON decode.
func parseExpiresAt(raw json.RawMessage) (time.Time, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return time.Time{}, false
	}
	if inner := raw[1 : len(raw)-1]; raw[len(raw)-1] == '"' && !bytes.ContainsAny(inner, "\\\"") {
		t, err := time.Parse(time.RFC3339, string(inner))
		return t, err == nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
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
		return fmt.Errorf("%w: %s: empty access token", ErrInvalidRequest, op)
	}
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] > '~' {
			return fmt.Errorf("%w: %s: access token has characters not allowed in a header", ErrInvalidRequest, op)
		}
	}
	return nil
}
