package bluenexustest

import (
	"bytes"
	"crypto/subtle"
	"embed"
	"html/template"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus"
)

//go:embed templates/pages.html
var templateFS embed.FS

// pages holds the white-label templates, parsed once.
var pages = template.Must(template.ParseFS(templateFS, "templates/pages.html"))

// SessionCookie is the name of the white-label page's session cookie.
const SessionCookie = "bnx_wl_session"

// sessionTTL bounds a white-label session after the code is exchanged.
const sessionTTL = 30 * time.Minute

// wlSession is a white-label session, bound to the browser by its cookie.
type wlSession struct {
	user        string
	redirectURI string
	csrf        string
	expiresAt   time.Time
	flash       string
}

// pageHeaders sets the headers of every white-label response.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// No form-action: browsers apply it to the redirect that Done answers with.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
}

type errorPage struct {
	Title, Message, TTL string
}

// renderError answers with the HTML error page.
func (s *Server) renderError(w http.ResponseWriter, status int, title, message string) {
	render(w, status, "error", errorPage{Title: title, Message: message, TTL: s.cfg.codeTTL.String()})
}

// render executes a template into a buffer first, so a template error
// becomes a 500 rather than half a page.
func render(w http.ResponseWriter, status int, name string, data any) {
	pageHeaders(w)
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		http.Error(w, "bluenexustest: template error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func seeOther(w http.ResponseWriter, location string) {
	pageHeaders(w)
	w.Header().Set("Location", location)
	w.WriteHeader(http.StatusSeeOther)
}

// handleWhiteLabel exchanges a handoff code for a session. The code must be
// known, unused, unexpired, for the connections intent, and presented from
// the IP that the init call was fingerprinted with. Any presentation of a
// known code consumes it, so a leaked code fails for its thief and its owner
// alike rather than being tried again.
func (s *Server) handleWhiteLabel(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		pageHeaders(w)
		w.Header().Set("Allow", http.MethodGet)
		s.renderError(w, http.StatusMethodNotAllowed, "Method not allowed", "Open this page with a normal link.")
		return
	}
	codes := r.URL.Query()["code"]
	if len(codes) != 1 || codes[0] == "" {
		s.renderError(w, http.StatusBadRequest, "This link is not valid",
			"The link must carry exactly one handoff code.")
		return
	}
	peer, _ := headerOrPeerIP(r, s.cfg.pageIPHeader) // the TCP peer unless WithPageIPHeader
	s.mu.Lock()
	h, ok := s.codes[codes[0]]
	var status int
	var title, msg string
	now := s.now()
	switch {
	case !ok:
		status, title, msg = http.StatusBadRequest, "This link is not valid", "The handoff code is unknown."
	case h.used:
		s.reuses++
		status, title, msg = http.StatusGone, "This link was already used", "Each handoff code works only once."
	case !now.Before(h.expiresAt):
		status, title, msg = http.StatusGone, "This link has expired", "Handoff codes expire "+s.cfg.codeTTL.String()+" after the app asks for them."
	case h.intent != bluenexus.IntentConnections:
		status, title, msg = http.StatusForbidden, "This link is for another page", "The handoff code was not issued for managing connections."
	case !sameClient(peer, h.clientIP):
		status, title, msg = http.StatusForbidden, "This link was opened from another network", "The handoff code must be used from the same IP address that the app requested it for."
	}
	if ok {
		h.used = true
	}
	var sid, cookieValue string
	if status == 0 {
		for id, sess := range s.sessions {
			if !now.Before(sess.expiresAt) {
				delete(s.sessions, id)
			}
		}
		sid = randomString(32)
		s.sessions[sid] = &wlSession{
			user:        h.user,
			redirectURI: h.redirectURI,
			csrf:        randomString(32),
			expiresAt:   now.Add(sessionTTL),
		}
		// Each tab's handoff opens its own session; the cookie lists this
		// browser's live ones, newest last.
		live := append(s.liveSessionsLocked(r), sid)
		cookieValue = strings.Join(live[max(0, len(live)-maxSessionsPerBrowser):], ".")
	}
	s.mu.Unlock()
	if status != 0 {
		s.renderError(w, status, title, msg)
		return
	}
	setSessionCookie(w, cookieValue)
	seeOther(w, PathWhiteLabelSession)
}

// CodeReuses returns how many times the white-label page was presented a
// handoff code that had already been presented once, whatever the first
// presentation's outcome: each was refused (410, "already used"). A
// browser that follows each handoff link once never causes one, and an
// app never sends a code twice: assert that this stays 0, as a soak
// does, to catch a code minted once and delivered twice.
func (s *Server) CodeReuses() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reuses
}

// maxSessionsPerBrowser bounds the sessions one browser holds (tabs).
const maxSessionsPerBrowser = 5

// setSessionCookie writes the browser's session list, or deletes the
// cookie when the list is empty.
func setSessionCookie(w http.ResponseWriter, value string) {
	c := &http.Cookie{Name: SessionCookie, Value: value, Path: PathWhiteLabel, HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if value == "" {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

// liveSessionsLocked returns the ids of the request's live sessions, oldest
// first, dropping expired ones. s.mu must be held.
func (s *Server) liveSessionsLocked(r *http.Request) []string {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return nil
	}
	var live []string
	for id := range strings.SplitSeq(c.Value, ".") {
		sess, ok := s.sessions[id]
		if !ok {
			continue
		}
		if !s.now().Before(sess.expiresAt) {
			delete(s.sessions, id)
			continue
		}
		live = append(live, id)
	}
	return live
}

// sameClient reports whether the browser's IP matches the fingerprint. All
// loopback addresses count as one machine, so that a browser on ::1 and an
// app forwarding 127.0.0.1 (or the reverse) work in local development.
func sameClient(browser, fingerprint netip.Addr) bool {
	return browser == fingerprint || (browser.IsLoopback() && fingerprint.IsLoopback())
}

// sessionLocked returns the request's newest live session and its id: the
// page shows it. s.mu must be held.
func (s *Server) sessionLocked(r *http.Request) (*wlSession, string) {
	live := s.liveSessionsLocked(r)
	if len(live) == 0 {
		return nil, ""
	}
	sid := live[len(live)-1]
	return s.sessions[sid], sid
}

func (s *Server) noSession(w http.ResponseWriter) {
	s.renderError(w, http.StatusUnauthorized, "Your session has ended",
		"This Manage connections session is over or was never started.")
}

type connView struct {
	ID, ProviderID, ProviderName, Email, Status, CreatedISO, CreatedHuman string
	Account                                                               int
}

type providerView struct{ ID, Name string }

type sessionPage struct {
	User, CSRF, Flash string
	Connections       []connView
	Providers         []providerView
}

func (s *Server) handleSession(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	sess, _ := s.sessionLocked(r)
	var data sessionPage
	if sess != nil {
		data = sessionPage{User: sess.user, CSRF: sess.csrf, Flash: sess.flash}
		sess.flash = ""
		for _, c := range s.users[sess.user].conns {
			data.Connections = append(data.Connections, connView{
				ID:           c.ID,
				ProviderID:   c.ProviderID,
				Account:      c.account,
				ProviderName: providerName(c.ProviderID),
				Email:        c.Metadata.Email,
				Status:       string(c.Status),
				CreatedISO:   c.CreatedAt.UTC().Format(time.RFC3339),
				CreatedHuman: c.CreatedAt.UTC().Format("2 Jan 2006 15:04 UTC"),
			})
		}
	}
	s.mu.Unlock()
	if sess == nil {
		s.noSession(w)
		return
	}
	for _, p := range simulatedProviders {
		data.Providers = append(data.Providers, providerView{ID: p.id, Name: p.name})
	}
	render(w, http.StatusOK, "session", data)
}

// postForm parses a white-label form post and checks its session and CSRF
// token, answering the error page itself when they fail. On success it
// returns with s.mu held; the caller unlocks.
func (s *Server) postForm(w http.ResponseWriter, r *http.Request) (*wlSession, string, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, http.StatusBadRequest, "The form could not be read", "Reload the page and try again.")
		return nil, "", false
	}
	s.mu.Lock()
	live := s.liveSessionsLocked(r)
	if len(live) == 0 {
		s.mu.Unlock()
		s.noSession(w)
		return nil, "", false
	}
	// The form's CSRF token names which of the browser's sessions (tabs)
	// posted it.
	var sess *wlSession
	var sid string
	tokens := r.PostForm["csrf_token"]
	for _, id := range live {
		if len(tokens) == 1 && subtle.ConstantTimeCompare([]byte(tokens[0]), []byte(s.sessions[id].csrf)) == 1 {
			sess, sid = s.sessions[id], id
		}
	}
	if sess == nil {
		s.mu.Unlock()
		s.renderError(w, http.StatusForbidden, "The form has expired",
			"The form's security token is missing or wrong. Reload the page and try again.")
		return nil, "", false
	}
	return sess, sid, true
}

// maxFormAccount bounds the account field of the connect form.
const maxFormAccount = 1_000_000

// handleConnect connects a provider account: the form's provider, and its
// optional account field: absent or empty for the primary account (1),
// "new" for an account not connected yet, or an account number. An account
// already connected is reconnected rather than added again.
func (s *Server) handleConnect(w http.ResponseWriter, r *http.Request) {
	sess, _, ok := s.postForm(w, r)
	if !ok {
		return
	}
	p, known := lookupProvider(r.PostForm.Get("provider"))
	if !known || len(r.PostForm["provider"]) > 1 {
		s.mu.Unlock()
		s.renderError(w, http.StatusBadRequest, "Unknown service", "Choose one of the services in the list.")
		return
	}
	u := s.users[sess.user]
	account := 1
	switch v := r.PostForm["account"]; {
	case len(v) > 1:
		account = 0
	case len(v) == 0 || v[0] == "":
	case v[0] == "new":
		account = u.nextAccount(p.id)
	default:
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > maxFormAccount || strconv.Itoa(n) != v[0] {
			n = 0
		}
		account = n
	}
	if account == 0 {
		s.mu.Unlock()
		s.renderError(w, http.StatusBadRequest, "Unknown account", "Choose Connect, Add another account, or Reconnect on a connected service.")
		return
	}
	c, again := u.connect(p.id, account, s.now())
	switch {
	case again:
		sess.flash = "Reconnected " + p.name + " (" + c.Metadata.Email + ")."
	case account == 1:
		sess.flash = "Connected " + p.name + "."
	default:
		sess.flash = "Connected another " + p.name + " account (" + c.Metadata.Email + ")."
	}
	s.mu.Unlock()
	seeOther(w, PathWhiteLabelSession)
}

func (s *Server) handleRemove(w http.ResponseWriter, r *http.Request) {
	sess, _, ok := s.postForm(w, r)
	if !ok {
		return
	}
	if c, found := s.users[sess.user].removeConn(r.PostForm.Get("id")); found {
		sess.flash = "Removed " + providerName(c.ProviderID) + " (" + c.Metadata.Email + ")."
	} else {
		sess.flash = "That connection was already removed."
	}
	s.mu.Unlock()
	seeOther(w, PathWhiteLabelSession)
}

// handleDone ends the session and sends the browser to the redirectUri given
// at init, unchanged unless ReturnWithError asked for error parameters.
func (s *Server) handleDone(w http.ResponseWriter, r *http.Request) {
	sess, sid, ok := s.postForm(w, r)
	if !ok {
		return
	}
	delete(s.sessions, sid)
	remaining := strings.Join(s.liveSessionsLocked(r), ".")
	target := sess.redirectURI
	if e := s.retErr; e != nil {
		s.retErr = nil
		target = appendQuery(target, url.Values{"error": {e.code}, "error_description": {e.description}})
	}
	s.mu.Unlock()
	setSessionCookie(w, remaining)
	seeOther(w, target)
}

// appendQuery adds v to raw's query without re-encoding what raw already has.
// raw has no fragment (checkRedirectURI forbids them).
func appendQuery(raw string, v url.Values) string {
	sep := "?"
	switch {
	case strings.HasSuffix(raw, "?") || strings.HasSuffix(raw, "&"):
		sep = ""
	case strings.Contains(raw, "?"):
		sep = "&"
	}
	return raw + sep + v.Encode()
}
