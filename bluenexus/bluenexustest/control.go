package bluenexustest

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/handoffkit/handoffkit/internal/bnwire"
)

// The control API (WithControlAPI): JSON over HTTP under /_emulator/, for
// tests that drive the emulator from outside Go. Each route calls the Go
// method of the same name; docs/emulator.md is its reference.

func (s *Server) controlRoutes(mux *http.ServeMux) {
	routes := []struct {
		path    string
		methods map[string]http.HandlerFunc
	}{
		{"users", map[string]http.HandlerFunc{http.MethodPost: s.ctlSignIn}},
		{"connections", map[string]http.HandlerFunc{http.MethodPost: s.ctlConnect, http.MethodGet: s.ctlConnections}},
		{"faults", map[string]http.HandlerFunc{http.MethodPost: s.ctlInject, http.MethodDelete: s.ctlClearFaults}},
		{"clock", map[string]http.HandlerFunc{http.MethodPost: s.ctlAdvance, http.MethodGet: s.ctlNow}},
		{"revoke", map[string]http.HandlerFunc{http.MethodPost: s.ctlRevoke}},
		{"token-variants", map[string]http.HandlerFunc{http.MethodPost: s.ctlSetVariants, http.MethodGet: s.ctlVariants}},
		{"return-error", map[string]http.HandlerFunc{http.MethodPost: s.ctlReturnError}},
		{"stats", map[string]http.HandlerFunc{http.MethodGet: s.ctlStats}},
		{"reset", map[string]http.HandlerFunc{http.MethodPost: s.ctlReset}},
	}
	for _, rt := range routes {
		path := pathControl + rt.path
		var allow []string
		for m, h := range rt.methods {
			mux.HandleFunc(m+" "+path, h)
			allow = append(allow, m)
		}
		if _, ok := rt.methods[http.MethodGet]; ok {
			allow = append(allow, http.MethodHead)
		}
		slices.Sort(allow)
		mux.HandleFunc(path, methodNotAllowed(strings.Join(allow, ", ")))
	}
	mux.HandleFunc(pathControl, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Cannot %s %s", r.Method, r.URL.Path), nil)
	})
}

// readControl decodes a control request's JSON body into v, refusing
// unknown fields, or answers 400 (413 when too large). The Content-Type is
// not checked, so that curl -d works as is.
func readControl(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("trailing data after the JSON object")
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, "Request body too large", nil)
		return false
	case err != nil:
		writeError(w, http.StatusBadRequest, "Request body must be a JSON object: "+err.Error(), nil)
		return false
	}
	return true
}

func badField(w http.ResponseWriter, field, msg string, value any) {
	writeError(w, http.StatusBadRequest, "Validation failed", []bnwire.FieldError{{Field: field, Message: msg, Value: value}})
}

// duration is a JSON string in time.ParseDuration's syntax, such as "31s".
type duration time.Duration

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration must be a string such as \"31s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: want a Go duration such as \"31s\" or \"1h30m\"", s)
	}
	*d = duration(v)
	return nil
}

func (d duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// signInResponse is POST /_emulator/users's answer: the token endpoint's
// fields, the user's name and the two expiry times.
type signInResponse struct {
	Name string `json:"name"`
	tokenResponse
	ExpiresAt        time.Time `json:"expires_at"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at"`
}

// ctlSignIn is POST /_emulator/users {"name"}: SignIn.
func (s *Server) ctlSignIn(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string `json:"name"`
	}
	if !readControl(w, r, &req) {
		return
	}
	if checkUserName(req.Name) != nil {
		badField(w, "name", "name must be 1 to 64 letters, digits, '.', '_' or '-'", req.Name)
		return
	}
	t := s.SignIn(req.Name)
	writeJSON(w, http.StatusOK, signInResponse{
		Name:             req.Name,
		tokenResponse:    s.tokenResponse(t, TokenVariants{}),
		ExpiresAt:        t.Expiry.UTC(),
		RefreshExpiresAt: t.RefreshExpiry.UTC(),
	})
}

// ctlConnect is POST /_emulator/connections {"user", "provider",
// "account"}: ConnectAccount (account 1 when absent).
func (s *Server) ctlConnect(w http.ResponseWriter, r *http.Request) {
	var req struct {
		User     string `json:"user"`
		Provider string `json:"provider"`
		Account  *int   `json:"account"`
	}
	if !readControl(w, r, &req) {
		return
	}
	account := 1
	if req.Account != nil {
		account = *req.Account
	}
	switch {
	case checkUserName(req.User) != nil:
		badField(w, "user", "user must be 1 to 64 letters, digits, '.', '_' or '-'", req.User)
	case !providerIDRE.MatchString(req.Provider):
		badField(w, "provider", "provider must be 1 to 32 of a-z 0-9 _ -", req.Provider)
	case account < 1:
		badField(w, "account", "account must be 1 or more", account)
	default:
		writeJSON(w, http.StatusOK, s.ConnectAccount(req.User, req.Provider, account))
	}
}

// ctlConnections is GET /_emulator/connections?user=NAME: Connections.
func (s *Server) ctlConnections(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("user")
	s.mu.Lock()
	_, known := s.users[name]
	s.mu.Unlock()
	if !known {
		writeError(w, http.StatusNotFound, "Unknown user", nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": s.Connections(name)})
}

// faultRequest is POST /_emulator/faults's body: a Fault, where it plays,
// and how often.
type faultRequest struct {
	Path             string   `json:"path"`
	Count            int      `json:"count"`
	Always           bool     `json:"always"`
	Latency          duration `json:"latency"`
	Status           int      `json:"status"`
	Message          string   `json:"message"`
	RetryAfter       duration `json:"retryAfter"`
	Malformed        bool     `json:"malformed"`
	Oversize         int      `json:"oversize"`
	WrongContentType bool     `json:"wrongContentType"`
	Reset            bool     `json:"reset"`
	Redirect         string   `json:"redirect"`
}

// maxControlOversize bounds an Oversize fault set over HTTP.
const maxControlOversize = 64 << 20

// ctlInject is POST /_emulator/faults: Inject (count times, default once)
// or, with "always", InjectAlways.
func (s *Server) ctlInject(w http.ResponseWriter, r *http.Request) {
	var req faultRequest
	if !readControl(w, r, &req) {
		return
	}
	f := Fault{
		Latency: time.Duration(req.Latency), Status: req.Status, Message: req.Message,
		RetryAfter: time.Duration(req.RetryAfter), Malformed: req.Malformed, Oversize: req.Oversize,
		WrongContentType: req.WrongContentType, Reset: req.Reset, Redirect: req.Redirect,
	}
	switch {
	case !strings.HasPrefix(req.Path, "/") || isEmulatorPath(req.Path):
		badField(w, "path", "path must be a URL path starting with / outside /_emulator/ and /healthz, such as "+PathHandoffInit, req.Path)
	case req.Always && req.Count != 0:
		badField(w, "count", "count and always exclude each other", req.Count)
	case req.Count < 0 || req.Count > 1000:
		badField(w, "count", "count must be 1 to 1000", req.Count)
	case req.Status != 0 && (req.Status < 100 || req.Status > 599):
		badField(w, "status", "status must be 100 to 599", req.Status)
	case f.Latency < 0 || f.Latency > 10*time.Minute:
		badField(w, "latency", "latency must be 0 to 10m", req.Latency)
	case f.RetryAfter < 0:
		badField(w, "retryAfter", "retryAfter must not be negative", req.RetryAfter)
	case req.Oversize < 0 || req.Oversize > maxControlOversize:
		badField(w, "oversize", "oversize must be 0 to 64 MiB", req.Oversize)
	case f == Fault{}:
		badField(w, "status", "the fault does nothing: set status, latency, malformed, oversize, wrongContentType, reset or redirect", nil)
	case req.Always:
		s.InjectAlways(req.Path, f)
		w.WriteHeader(http.StatusNoContent)
	default:
		faults := make([]Fault, max(1, req.Count))
		for i := range faults {
			faults[i] = f
		}
		s.Inject(req.Path, faults...)
		w.WriteHeader(http.StatusNoContent)
	}
}

// ctlClearFaults is DELETE /_emulator/faults: ClearFaults.
func (s *Server) ctlClearFaults(w http.ResponseWriter, _ *http.Request) {
	s.ClearFaults()
	w.WriteHeader(http.StatusNoContent)
}

// ctlAdvance is POST /_emulator/clock {"advance": "31s"}: AdvanceClock.
func (s *Server) ctlAdvance(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Advance *duration `json:"advance"`
	}
	if !readControl(w, r, &req) {
		return
	}
	if req.Advance == nil || *req.Advance < 0 {
		badField(w, "advance", "advance must be a duration of 0 or more, such as \"31s\"", nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]time.Time{"now": s.AdvanceClock(time.Duration(*req.Advance)).UTC()})
}

// ctlNow is GET /_emulator/clock: the emulator's current time.
func (s *Server) ctlNow(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]time.Time{"now": s.now().UTC()})
}

// ctlRevoke is POST /_emulator/revoke {"user"}: RevokeSessions.
func (s *Server) ctlRevoke(w http.ResponseWriter, r *http.Request) {
	var req struct {
		User string `json:"user"`
	}
	if !readControl(w, r, &req) {
		return
	}
	s.mu.Lock()
	_, known := s.users[req.User]
	s.mu.Unlock()
	if !known {
		writeError(w, http.StatusNotFound, "Unknown user", nil)
		return
	}
	s.RevokeSessions(req.User)
	w.WriteHeader(http.StatusNoContent)
}

// variantsJSON is TokenVariants in the control API.
type variantsJSON struct {
	NoRotation         bool     `json:"noRotation"`
	NoExpiresIn        bool     `json:"noExpiresIn"`
	LowercaseTokenType bool     `json:"lowercaseTokenType"`
	FormErrors         bool     `json:"formErrors"`
	InvalidClient      bool     `json:"invalidClient"`
	ReuseGrace         duration `json:"reuseGrace"`
}

// ctlSetVariants is POST /_emulator/token-variants {"noRotation", ...}:
// SetTokenVariants. Absent fields are off.
func (s *Server) ctlSetVariants(w http.ResponseWriter, r *http.Request) {
	var req variantsJSON
	if !readControl(w, r, &req) {
		return
	}
	if req.ReuseGrace < 0 {
		badField(w, "reuseGrace", "reuseGrace must be a duration of 0 or more, such as \"5s\"", nil)
		return
	}
	s.SetTokenVariants(TokenVariants{
		NoRotation: req.NoRotation, NoExpiresIn: req.NoExpiresIn, LowercaseTokenType: req.LowercaseTokenType,
		FormErrors: req.FormErrors, InvalidClient: req.InvalidClient, ReuseGrace: time.Duration(req.ReuseGrace),
	})
	w.WriteHeader(http.StatusNoContent)
}

// ctlVariants is GET /_emulator/token-variants: the variants in force.
func (s *Server) ctlVariants(w http.ResponseWriter, _ *http.Request) {
	v := s.tokenVariants()
	writeJSON(w, http.StatusOK, variantsJSON{
		NoRotation: v.NoRotation, NoExpiresIn: v.NoExpiresIn, LowercaseTokenType: v.LowercaseTokenType,
		FormErrors: v.FormErrors, InvalidClient: v.InvalidClient, ReuseGrace: duration(v.ReuseGrace),
	})
}

// ctlReturnError is POST /_emulator/return-error {"error",
// "error_description"}: ReturnWithError.
func (s *Server) ctlReturnError(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if !readControl(w, r, &req) {
		return
	}
	if req.Error == "" {
		badField(w, "error", "error should not be empty", nil)
		return
	}
	s.ReturnWithError(req.Error, req.Description)
	w.WriteHeader(http.StatusNoContent)
}

// ctlStats is GET /_emulator/stats: Hits for every path, RefreshReplays
// and CodeReuses.
func (s *Server) ctlStats(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	hits := maps.Clone(s.hits)
	replays, reuses := s.replays, s.reuses
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"hits": hits, "refreshReplays": replays, "codeReuses": reuses})
}

// ctlReset is POST /_emulator/reset: Reset.
func (s *Server) ctlReset(w http.ResponseWriter, _ *http.Request) {
	s.Reset()
	w.WriteHeader(http.StatusNoContent)
}
