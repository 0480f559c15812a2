package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/internal/urlbuild"
)

// capture holds the raw answer of one call, so that the doctor can report
// the handoff answer's field names, which the client does not expose.
type capture struct {
	sent time.Time
	body []byte
}

type captureKey struct{}

// captureTransport copies the answer body of a request whose context holds
// a *capture.
type captureTransport struct{ next http.RoundTripper }

func (t captureTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c, _ := req.Context().Value(captureKey{}).(*capture)
	if c != nil {
		c.sent = time.Now()
	}
	resp, err := t.next.RoundTrip(req)
	if c == nil || err != nil {
		return resp, err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20+1))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	c.body = b
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

// testIP is the address the client-IP check forwards: TEST-NET-3
// (RFC 5737), never the doctor's own.
var testIP = netip.MustParseAddr("203.0.113.77")

// checkHandoff runs a real handoff with the test user's access token: an
// init with the configured return URL, a report of the answer's shape, and
// a visit to the white-label page with the code.
func (d *doctor) checkHandoff(ctx context.Context, c *bluenexus.Client) []result {
	const initName, shapeName, pageName = "handoff.init", "handoff.shape", "handoff.white_label"
	why := ""
	switch {
	case d.cfg.accessToken == "":
		why = "give a test user's access token (BLUENEXUS_ACCESS_TOKEN) to run a real handoff"
	case c == nil:
		why = "no API client (see config.api_base)"
	case urlbuild.CheckReturnURI(d.cfg.returnURL, false) != nil:
		why = "no valid return URL (see config.urls)"
	}
	if why != "" {
		return []result{skip(initName, why), skip(shapeName, why), skip(pageName, why)}
	}
	capt := &capture{}
	h, err := c.InitHandoff(context.WithValue(ctx, captureKey{}, capt), bluenexus.AccessToken(d.cfg.accessToken),
		bluenexus.HandoffRequest{RedirectURI: d.cfg.returnURL, Intent: bluenexus.IntentConnections})
	if errors.Is(err, bluenexus.ErrBadResponse) && len(capt.body) > 0 {
		return []result{
			pass(initName, "BlueNexus answered the init with a code"),
			fail(shapeName, "the kit cannot read the answer: "+err.Error()+"; its fields: "+fieldNames(capt.body),
				"report these field names to the handoffkit maintainers (docs/BLUENEXUS.md section 5)"),
			skip(pageName, "no code"),
		}
	}
	if err != nil {
		return []result{initFailure(initName, d.cfg.returnURL, err), skip(shapeName, "no answer"), skip(pageName, "no code")}
	}
	out := []result{pass(initName, "BlueNexus minted a code for the return URL "+d.cfg.returnURL)}
	out = append(out, shapeReport(shapeName, capt, h))
	return append(out, d.visitWhiteLabel(ctx, pageName, h.Code))
}

// initFailure explains a refused handoff init.
func initFailure(name, returnURL string, err error) result {
	var ae *bluenexus.APIError
	if !errors.As(err, &ae) {
		return fail(name, "handoff init: "+err.Error(), "see the reach checks above")
	}
	for _, fe := range ae.Errors {
		if fe.Field == "redirectUri" {
			host := returnURL
			if u, err := url.Parse(returnURL); err == nil {
				host = u.Hostname()
			}
			return fail(name, fmt.Sprintf("BlueNexus refused the return URL: %s", fe.Message),
				"register this host ("+host+") among the client's allowed domains (BlueNexus developer portal, White-Label Integration, Domains)")
		}
	}
	switch {
	case errors.Is(err, bluenexus.ErrClientCriteria):
		return fail(name, "handoff init: "+err.Error(), "BlueNexus could not fingerprint this machine: contact BlueNexus")
	case ae.StatusCode == http.StatusUnauthorized:
		return fail(name, "handoff init: "+err.Error(), "the access token is expired or not valid: sign the test user in again and pass a fresh token")
	case ae.StatusCode == http.StatusForbidden:
		return fail(name, "handoff init: "+err.Error(), "use an access token issued to your white-label customer client")
	}
	return fail(name, "handoff init: "+err.Error(), "see BlueNexus's message")
}

// shapeReport says which fields of the init answer carried the code and its
// expiry, and the code's life and length as the kit read them. It never
// shows the code.
func shapeReport(name string, capt *capture, h bluenexus.Handoff) result {
	var doc map[string]json.RawMessage
	_ = json.Unmarshal(capt.body, &doc)
	var data map[string]json.RawMessage
	if raw, ok := doc["data"]; ok {
		_ = json.Unmarshal(raw, &data)
	}
	// The kit's reading order (bluenexus.InitHandoff).
	find := func(names ...string) string {
		for _, n := range names {
			if _, ok := doc[n]; ok {
				return n
			}
		}
		for _, n := range names {
			if _, ok := data[n]; ok {
				return "data." + n
			}
		}
		return ""
	}
	codeField := find("code", "handoffCode")
	expiryField := find("expiresIn")
	if expiryField == "" {
		expiryField = find("expiresAt")
	}
	life := h.ExpiresAt.Sub(capt.sent).Round(time.Second)
	expiry := expiryField
	if expiry == "" {
		expiry = "none (the kit assumes 30s)"
	}
	facts := map[string]any{"code_field": codeField, "expiry_field": expiryField, "code_life_s": life.Seconds(), "code_length": len(h.Code)}
	detail := fmt.Sprintf("code in %q (%d characters), expiry in %s, code life %v; fields: %s", codeField, len(h.Code), expiry, life, fieldNames(capt.body))
	if life < 10*time.Second {
		return fail(name, detail, "the code lives under 10s as the kit reads it: check this machine's clock, and report the answer's shape to the handoffkit maintainers").with(facts)
	}
	return pass(name, detail).with(facts)
}

// fieldNames lists the names of a JSON object's fields, and of its data
// object's, never their values.
func fieldNames(body []byte) string {
	var doc map[string]json.RawMessage
	if json.Unmarshal(body, &doc) != nil {
		return "(not a JSON object)"
	}
	var names []string
	for k, v := range doc {
		names = append(names, k)
		var inner map[string]json.RawMessage
		if k == "data" && json.Unmarshal(v, &inner) == nil {
			for ik := range inner {
				names = append(names, "data."+ik)
			}
		}
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// visitWhiteLabel opens the white-label URL with the code as a browser
// would, following redirects with cookies, and reports the final status,
// URL (without its query) and content type.
func (d *doctor) visitWhiteLabel(ctx context.Context, name string, code bluenexus.Code) result {
	base, err := url.Parse(d.cfg.whiteLabel)
	if err != nil {
		return skip(name, "no valid white-label URL (see config.urls)")
	}
	jar, _ := cookiejar.New(nil)
	hc := *d.hc
	hc.Jar = jar
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, urlbuild.WithParam(base, d.cfg.codeParam, string(code)), nil)
	if err != nil {
		return fail(name, err.Error(), "")
	}
	req.Header.Set("Accept", "text/html")
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL carries the code
		}
		return fail(name, "white-label page: "+err.Error(), "see the reach.white_label checks above")
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	final := *resp.Request.URL
	final.RawQuery, final.Fragment = "", ""
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	facts := map[string]any{"status": resp.StatusCode, "final_url": final.String(), "content_type": ct}
	detail := fmt.Sprintf("status %d, final URL %s, content type %s", resp.StatusCode, final.String(), ct)
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return fail(name, detail, "BLUENEXUS_WHITE_LABEL_URL does not serve the white-label page: copy its URL from the BlueNexus developer portal").with(facts)
	case resp.StatusCode >= 300:
		return fail(name, detail, "the page refused the fresh code: check BLUENEXUS_WHITE_LABEL_URL and HANDOFF_CODE_PARAM against the developer portal").with(facts)
	case ct != "text/html":
		return fail(name, detail, "the URL answers, but not with a page: check BLUENEXUS_WHITE_LABEL_URL").with(facts)
	}
	return pass(name, detail).with(facts)
}

// checkClientIPHeader mints a code forwarding an address other than this
// machine's in the client-IP header. BlueNexus answers the client-criteria
// error when it does not honour the header for this client.
func (d *doctor) checkClientIPHeader(ctx context.Context, c *bluenexus.Client) result {
	const name = "client_ip.header"
	switch {
	case d.cfg.accessToken == "":
		return skip(name, "give a test user's access token (BLUENEXUS_ACCESS_TOKEN) to check the forwarded IP")
	case c == nil:
		return skip(name, "no API client (see config.api_base)")
	case urlbuild.CheckReturnURI(d.cfg.returnURL, false) != nil:
		return skip(name, "no valid return URL (see config.urls)")
	}
	_, err := c.InitHandoff(ctx, bluenexus.AccessToken(d.cfg.accessToken),
		bluenexus.HandoffRequest{RedirectURI: d.cfg.returnURL, Intent: bluenexus.IntentConnections, ClientIP: testIP})
	switch {
	case err == nil:
		return pass(name, fmt.Sprintf("BlueNexus accepted an init forwarding %s in %s", testIP, d.cfg.ipHeader))
	case errors.Is(err, bluenexus.ErrClientCriteria):
		return fail(name, fmt.Sprintf("BlueNexus refused an init forwarding %s in %s: %v", testIP, d.cfg.ipHeader, err),
			"the header is not honoured for this client: contact BlueNexus, or call init from the user's network")
	}
	return fail(name, "handoff init forwarding "+testIP.String()+": "+err.Error(), "see handoff.init above")
}

// ipReport is middleware.ClientIPReport's answer.
type ipReport struct {
	Strategy string `json:"strategy"`
	ClientIP string `json:"clientIP"`
	Error    string `json:"error"`
	Hops     []struct {
		Address string `json:"address"`
		From    string `json:"from"`
		Trusted bool   `json:"trusted"`
		Why     string `json:"why"`
	} `json:"hops"`
}

// checkClientIPReport calls the app's middleware.ClientIPReport route
// through its proxies and reports the address its strategy derives.
func (d *doctor) checkClientIPReport(ctx context.Context) result {
	const name = "client_ip.proxies"
	const mount = "mount middleware.ClientIPReport(strategy) behind your admin auth, and give its URL through your load balancer (docs/client-ip.md)"
	if d.cfg.clientIPURL == "" {
		return skip(name, "give your ClientIPReport route (HANDOFF_CLIENT_IP_URL) to check the client IP through your proxies")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.cfg.clientIPURL, nil)
	if err != nil {
		return fail(name, "HANDOFF_CLIENT_IP_URL: "+err.Error(), mount)
	}
	if d.cfg.clientIPAuth != "" {
		req.Header.Set("Authorization", d.cfg.clientIPAuth)
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return fail(name, err.Error(), mount)
	}
	defer resp.Body.Close()
	var rep ipReport
	if resp.StatusCode != http.StatusOK {
		return fail(name, fmt.Sprintf("%s answered status %d", d.cfg.clientIPURL, resp.StatusCode), mount+"; pass its credentials in HANDOFF_CLIENT_IP_AUTH")
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&rep); err != nil || rep.Strategy == "" {
		return fail(name, d.cfg.clientIPURL+" did not answer a client-IP report", mount)
	}
	var hops []string
	for _, h := range rep.Hops {
		addr := h.Address
		if addr == "" {
			addr = "(malformed)"
		}
		mark := "trusted"
		if !h.Trusted {
			mark = "not trusted"
		}
		hops = append(hops, fmt.Sprintf("%s %s (%s: %s)", h.From, addr, mark, h.Why))
	}
	walk := strings.Join(hops, "; ")
	facts := map[string]any{"strategy": rep.Strategy, "client_ip": rep.ClientIP}
	if rep.ClientIP == "" {
		return fail(name, fmt.Sprintf("%s found no client IP: %s; walk: %s", rep.Strategy, rep.Error, walk),
			"docs/client-ip.md section 3 gives the fix for this reason").with(facts)
	}
	return pass(name, fmt.Sprintf("%s derives %s: is it this machine's public address? walk: %s", rep.Strategy, rep.ClientIP, walk)).with(facts)
}
