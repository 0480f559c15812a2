package bluenexustest

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/internal/bnwire"
)

// maxRequestBody bounds API request bodies; larger ones get a 413.
const maxRequestBody = 64 << 10

// errorNames maps statuses to the "error" field BlueNexus sends.
var errorNames = map[int]string{
	400: "BadRequestError",
	401: "UnauthorizedError",
	403: "ForbiddenError",
	404: "NotFoundError",
	405: "MethodNotAllowedError",
	408: "RequestTimeoutError",
	409: "ConflictError",
	413: "PayloadTooLargeError",
	415: "UnsupportedMediaTypeError",
	422: "UnprocessableEntityError",
	429: "TooManyRequestsError",
	500: "InternalServerError",
	502: "BadGatewayError",
	503: "ServiceUnavailableError",
	504: "GatewayTimeoutError",
}

// defaultMessages are the messages of error bodies that carry no more
// specific text, as in injected faults.
var defaultMessages = map[int]string{
	401: "Invalid or expired access token",
	403: "Forbidden resource",
	429: "Rate limit exceeded",
	500: "Internal server error",
	503: "Service unavailable",
}

func errorName(status int) string {
	if n, ok := errorNames[status]; ok {
		return n
	}
	return strings.ReplaceAll(http.StatusText(status), " ", "") + "Error"
}

func errorMessage(status int) string {
	if m, ok := defaultMessages[status]; ok {
		return m
	}
	return http.StatusText(status)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"InternalServerError","message":"Internal server error","statusCode":500}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError writes the documented error body; errs are the 400 field errors.
func writeError(w http.ResponseWriter, status int, message string, errs []bnwire.FieldError) {
	if message == "" {
		message = errorMessage(status)
	}
	writeJSON(w, status, bnwire.ErrorBody{
		Error:      errorName(status),
		Message:    message,
		StatusCode: status,
		Errors:     errs,
	})
}

func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("Cannot %s %s", r.Method, r.URL.Path), nil)
	}
}

// handoff is one issued code.
type handoff struct {
	user        string
	intent      bluenexus.Intent
	redirectURI string
	clientIP    netip.Addr
	expiresAt   time.Time
	used        bool
}

// retainCodes is how long past expiry a code stays on record, so that late
// presentations get "expired" rather than "unknown".
const retainCodes = time.Hour

// maxRetainedCodes bounds the codes on record under sustained load: beyond
// it, the oldest codes already past expiry are forgotten early (a late
// presentation of one then gets "unknown"). Unexpired codes are always kept.
const maxRetainedCodes = 100_000

// issuedCode is a code in the issue-order queue.
type issuedCode struct {
	code      string
	expiresAt time.Time
}

// sweepCodesLocked forgets the codes retained past retainCodes, and beyond
// maxRetainedCodes the oldest expired ones. Codes expire in issue order (one
// TTL, a clock that moves forward), so it only looks at the front of the
// queue: constant time per init on average, however many codes are on
// record. s.mu must be held.
func (s *Server) sweepCodesLocked(now time.Time) {
	for len(s.issued) > 0 {
		c := s.issued[0]
		if now.Sub(c.expiresAt) <= retainCodes && (len(s.issued) <= maxRetainedCodes || now.Before(c.expiresAt)) {
			return
		}
		delete(s.codes, c.code)
		s.issued[0] = issuedCode{}
		s.issued = s.issued[1:]
	}
}

type initResponse struct {
	Code      string `json:"code"`
	ExpiresAt string `json:"expiresAt"`
}

func (s *Server) handleInit(w http.ResponseWriter, r *http.Request) {
	u, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	fields, ok := readJSONObject(w, r)
	if !ok {
		return
	}
	var errs []bnwire.FieldError
	redirectURI, msg := stringField(fields, "redirectUri")
	if msg == "" {
		msg = checkRedirectURI(redirectURI)
	}
	if msg == "" {
		msg = s.cfg.domains.check(redirectURI)
	}
	if msg != "" {
		errs = append(errs, bnwire.FieldError{Field: "redirectUri", Message: msg, Value: rawValue(fields["redirectUri"])})
	}
	intent, msg := stringField(fields, "intent")
	if msg == "" && bluenexus.Intent(intent) != bluenexus.IntentConnections {
		msg = "intent must be one of the following values: connections"
	}
	if msg != "" {
		errs = append(errs, bnwire.FieldError{Field: "intent", Message: msg, Value: rawValue(fields["intent"])})
	}
	if errs != nil {
		writeError(w, http.StatusBadRequest, "Validation failed", errs)
		return
	}
	ip, ok := s.initClientIP(r)
	if !ok {
		writeError(w, http.StatusBadRequest, bnwire.ClientCriteriaMessage, nil)
		return
	}
	code := randomString(32)
	s.mu.Lock()
	now := s.now()
	s.sweepCodesLocked(now)
	h := &handoff{
		user:        u.name,
		intent:      bluenexus.Intent(intent),
		redirectURI: redirectURI,
		clientIP:    ip,
		expiresAt:   now.Add(s.cfg.codeTTL),
	}
	s.codes[code] = h
	s.issued = append(s.issued, issuedCode{code: code, expiresAt: h.expiresAt})
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, initResponse{Code: code, ExpiresAt: h.expiresAt.UTC().Format(time.RFC3339)})
}

// readJSONObject reads a JSON object body of at most maxRequestBody bytes,
// or answers 415, 413 or 400.
func readJSONObject(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		writeError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json", nil)
		return nil, false
	}
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody))
	err = dec.Decode(&fields)
	if err == nil && dec.More() {
		err = errors.New("trailing data")
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, "Request body too large", nil)
		return nil, false
	case err != nil || fields == nil:
		writeError(w, http.StatusBadRequest, "Request body must be a JSON object", nil)
		return nil, false
	}
	return fields, true
}

// stringField returns a required string field, or a validation message.
func stringField(fields map[string]json.RawMessage, name string) (string, string) {
	raw, ok := fields[name]
	if !ok || string(raw) == "null" {
		return "", name + " should not be empty"
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", name + " must be a string"
	}
	return v, ""
}

// rawValue turns a field's JSON back into a value for FieldError.Value.
func rawValue(raw json.RawMessage) any {
	if raw == nil {
		return nil
	}
	var v any
	_ = json.Unmarshal(raw, &v)
	return v
}

// deniedSchemes can run code, read local data or leave the app; they are
// never a redirectUri.
var deniedSchemes = map[string]bool{
	"javascript": true, "data": true, "file": true, "vbscript": true, "blob": true,
	"about": true, "filesystem": true, "view-source": true, "intent": true,
	"ws": true, "wss": true, "ftp": true, "mailto": true, "tel": true, "sms": true,
}

// checkRedirectURI returns why raw is not an acceptable redirectUri, or "".
// Accepted: https with a host; http only to a loopback host (127.0.0.0/8,
// ::1, localhost); a custom app scheme of two or more characters in
// hierarchical form (yourapp://connections, com.example.app:/return).
// Rejected everywhere: whitespace and control characters, backslashes,
// fragments, user information, and the schemes in deniedSchemes.
func checkRedirectURI(raw string) string {
	if raw == "" {
		return "redirectUri should not be empty"
	}
	if len(raw) > 2048 {
		return "redirectUri must be at most 2048 characters"
	}
	for _, c := range raw {
		if c <= ' ' || c == 0x7f || unicode.IsSpace(c) || unicode.IsControl(c) {
			return "redirectUri must not contain whitespace or control characters"
		}
	}
	if strings.ContainsRune(raw, '\\') {
		return "redirectUri must not contain backslashes"
	}
	if strings.ContainsRune(raw, '#') {
		return "redirectUri must not contain a fragment"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "redirectUri must be a valid URL"
	}
	if u.Scheme == "" {
		return "redirectUri must be an absolute URL"
	}
	if u.User != nil {
		return "redirectUri must not contain user information"
	}
	if u.Opaque != "" {
		return "redirectUri must be hierarchical (scheme://... or scheme:/...)"
	}
	switch {
	case u.Scheme == "https":
		if u.Hostname() == "" {
			return "redirectUri must name a host"
		}
	case u.Scheme == "http":
		if !isLoopbackHost(u.Hostname()) {
			return "redirectUri must use https (http is allowed only for loopback hosts)"
		}
	case deniedSchemes[u.Scheme] || len(u.Scheme) < 2:
		return fmt.Sprintf("redirectUri scheme %q is not allowed", u.Scheme)
	}
	return ""
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Zone() == "" && ip.Unmap().IsLoopback()
}

// initClientIP is the fingerprint IP of a handoff init: the last entry of the
// client-IP header (all instances, comma-separated) when the header is
// present, else the TCP peer. A present but unusable header fails.
func (s *Server) initClientIP(r *http.Request) (netip.Addr, bool) {
	if s.cfg.ipHeaderNotHonoured {
		return s.peerOnlyIP(r)
	}
	return headerOrPeerIP(r, s.cfg.clientIPHeader)
}

// headerOrPeerIP is the last entry of header name (all instances,
// comma-separated) when name is set and the header present, else the TCP
// peer. A present but unusable header fails.
func headerOrPeerIP(r *http.Request, name string) (netip.Addr, bool) {
	if name != "" {
		if vals := r.Header.Values(name); len(vals) > 0 {
			last := vals[len(vals)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			return parseIP(strings.TrimSpace(last))
		}
	}
	return peerIP(r)
}

// parseIP accepts exactly one canonical-enough IP: no ports, hostnames,
// leading-zero or integer IPv4, or unspecified addresses. The result is
// unmapped and has no zone.
func parseIP(s string) (netip.Addr, bool) {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	ip = ip.Unmap().WithZone("")
	if ip.IsUnspecified() {
		return netip.Addr{}, false
	}
	return ip, true
}

func peerIP(r *http.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap().WithZone(""), true
}

// Pagination objects as sent; both shapes always carry every field.
type pageHasMore struct {
	Page    int  `json:"page"`
	Limit   int  `json:"limit"`
	Total   int  `json:"total"`
	HasMore bool `json:"hasMore"`
}

type pagePages struct {
	Page    int  `json:"page"`
	Limit   int  `json:"limit"`
	Total   int  `json:"total"`
	Pages   int  `json:"pages"`
	HasNext bool `json:"hasNext"`
	HasPrev bool `json:"hasPrev"`
}

type listResponse struct {
	Data       []bluenexus.Connection `json:"data"`
	Pagination any                    `json:"pagination"`
}

// listQuery is a validated connections list query.
type listQuery struct {
	page, limit int
	sortBy      string
	desc        bool
	status      bluenexus.ConnectionStatus
	providerID  string
}

func parseListQuery(q url.Values) (listQuery, []bnwire.FieldError) {
	lq := listQuery{page: 1, limit: 20, sortBy: "createdAt", desc: true}
	var errs []bnwire.FieldError
	bad := func(field, msg, value string) {
		errs = append(errs, bnwire.FieldError{Field: field, Message: msg, Value: value})
	}
	intParam := func(name string, lo, hi int, dst *int) {
		if !q.Has(name) {
			return
		}
		v := q.Get(name)
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			bad(name, fmt.Sprintf("%s must be an integer from %d to %d", name, lo, hi), v)
			return
		}
		*dst = n
	}
	intParam("page", 1, 1_000_000, &lq.page)
	intParam("limit", 1, 100, &lq.limit)
	if q.Has("sortBy") {
		switch v := q.Get("sortBy"); v {
		case "createdAt", "updatedAt", "providerId":
			lq.sortBy = v
		default:
			bad("sortBy", "sortBy must be one of the following values: createdAt, updatedAt, providerId", v)
		}
	}
	if q.Has("sortOrder") {
		switch v := q.Get("sortOrder"); strings.ToLower(v) {
		case "asc":
			lq.desc = false
		case "desc":
			lq.desc = true
		default:
			bad("sortOrder", "sortOrder must be one of the following values: asc, desc", v)
		}
	}
	if q.Has("filter") {
		v := q.Get("filter")
		var f map[string]string
		if err := json.Unmarshal([]byte(v), &f); err != nil {
			bad("filter", "filter must be a JSON object of strings", v)
			return lq, errs
		}
		for k, fv := range f {
			switch k {
			case "status":
				switch st := bluenexus.ConnectionStatus(fv); st {
				case bluenexus.StatusActive, bluenexus.StatusExpired, bluenexus.StatusError, bluenexus.StatusRevoked:
					lq.status = st
				default:
					bad("filter.status", "status must be one of the following values: active, expired, error, revoked", fv)
				}
			case "providerId":
				lq.providerID = fv
			default:
				bad("filter."+k, "filter supports only status and providerId", fv)
			}
		}
	}
	return lq, errs
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	u, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	lq, errs := parseListQuery(r.URL.Query())
	if errs != nil {
		writeError(w, http.StatusBadRequest, "Validation failed", errs)
		return
	}
	// Sort pointers and copy only the page: a page costs the same however
	// many connections the user has, bar the sort. The connections are kept
	// oldest first, so a descending sort starts from the newest: the usual
	// query (createdAt, desc) then finds them already in order. The order is
	// total (ties broken by id), so the input order never changes the result.
	s.mu.Lock()
	shape := s.shape
	matched := make([]*conn, 0, len(u.conns))
	for i := range u.conns {
		c := u.conns[i]
		if lq.desc {
			c = u.conns[len(u.conns)-1-i]
		}
		if (lq.status == "" || c.Status == lq.status) && (lq.providerID == "" || c.ProviderID == lq.providerID) {
			matched = append(matched, c)
		}
	}
	slices.SortStableFunc(matched, func(a, b *conn) int {
		var c int
		switch lq.sortBy {
		case "updatedAt":
			c = a.UpdatedAt.Compare(b.UpdatedAt)
		case "providerId":
			c = strings.Compare(a.ProviderID, b.ProviderID)
		default:
			c = a.CreatedAt.Compare(b.CreatedAt)
		}
		if lq.desc {
			c = -c
		}
		return cmp.Or(c, strings.Compare(a.ID, b.ID))
	})
	total := len(matched)
	start := min((lq.page-1)*lq.limit, total)
	end := min(start+lq.limit, total)
	resp := listResponse{Data: make([]bluenexus.Connection, 0, end-start)}
	for _, c := range matched[start:end] {
		resp.Data = append(resp.Data, copyConn(c))
	}
	s.mu.Unlock()
	if shape == PaginationPages {
		pages := (total + lq.limit - 1) / lq.limit
		resp.Pagination = pagePages{Page: lq.page, Limit: lq.limit, Total: total, Pages: pages,
			HasNext: lq.page < pages, HasPrev: lq.page > 1}
	} else {
		resp.Pagination = pageHasMore{Page: lq.page, Limit: lq.limit, Total: total, HasMore: end < total}
	}
	writeJSON(w, http.StatusOK, resp)
}

// withConn runs fn on the caller's connection named by the {id} path value
// under the lock, or answers 404 (also for another user's connection).
func (s *Server) withConn(w http.ResponseWriter, r *http.Request, fn func(*conn)) {
	u, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	c := u.conn(id)
	var out bluenexus.Connection
	if c != nil {
		fn(c)
		out = copyConn(c)
	}
	s.mu.Unlock()
	if c == nil {
		writeError(w, http.StatusNotFound, "Connection not found", nil)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	s.withConn(w, r, func(*conn) {})
}

// handleRefresh simulates re-authorising the provider: the connection
// becomes active with a new expiry an hour from now.
func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request) {
	s.withConn(w, r, func(c *conn) {
		now := s.now().UTC().Truncate(time.Millisecond)
		exp := now.Add(time.Hour)
		c.Status = bluenexus.StatusActive
		c.ExpiresAt = &exp
		c.UpdatedAt = now
	})
}
