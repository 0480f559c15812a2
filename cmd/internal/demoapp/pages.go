package demoapp

import (
	"encoding/json"
	"errors"
	"html/template"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/handlers"
)

// The pages are small html/template documents with inline CSS and no
// scripts, images or other external assets, so that the strict
// Content-Security-Policy of render holds. Element ids and data attributes
// (#flash with data-outcome, rows with data-provider, #manage, #what) are
// what the tests and browser tests read.

type pages struct {
	home, signin, failure *template.Template
}

const layout = `{{define "top"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · Example App</title>
<style>
:root{--ink:#1b1f24;--muted:#57606a;--line:#d8dde3;--accent:#2754c5;--accent-ink:#fff;--ok:#1a6e3f;--ok-bg:#e6f4ec;--bad:#a8200f;--bad-bg:#fdecea;--warn:#8a5200;--bg:#f6f7f9;--card:#fff}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:var(--ink);background:var(--bg)}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:.5rem;background:#fff;padding:.25rem .5rem;z-index:1}
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap}
header{background:var(--card);border-bottom:1px solid var(--line);padding:.7rem 1.5rem;display:flex;gap:1rem;justify-content:space-between;align-items:center;flex-wrap:wrap}
.brand{display:flex;align-items:center;gap:.55rem;font-weight:650;font-size:1.05rem}
.mark{display:inline-grid;place-items:center;width:1.9rem;height:1.9rem;border-radius:.45rem;background:var(--accent);color:#fff;font-size:.8rem;font-weight:700}
.tag{font-size:.75rem;font-weight:500;color:var(--muted);border:1px solid var(--line);border-radius:999px;padding:.05rem .55rem}
header form{display:flex;align-items:center;gap:.75rem;margin:0}
main{max-width:54rem;margin:1.75rem auto;padding:0 1.5rem}
section{background:var(--card);border:1px solid var(--line);border-radius:.6rem;padding:1.25rem 1.5rem;margin-bottom:1.5rem}
h1{font-size:1.45rem;line-height:1.3;margin:0 0 .35rem}h2{font-size:1.1rem;margin:0 0 .75rem}
.lead{color:var(--muted);margin:0 0 1.1rem}
table{width:100%;border-collapse:collapse;margin:0 0 1.1rem}
th,td{text-align:left;padding:.55rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600;font-size:.85rem;text-transform:uppercase;letter-spacing:.03em}
.sub{display:block;color:var(--muted);font-size:.85rem}
.badge{display:inline-block;border-radius:999px;padding:.05rem .6rem;font-size:.85rem;font-weight:600;text-transform:capitalize}
.status-active{background:var(--ok-bg);color:var(--ok)}.status-expired{background:#fff4e0;color:var(--warn)}.status-error,.status-revoked{background:var(--bad-bg);color:var(--bad)}
.button,button{display:inline-block;background:var(--accent);color:var(--accent-ink);border:1px solid var(--accent);border-radius:.4rem;padding:.55rem 1.1rem;font:inherit;font-weight:600;text-decoration:none;cursor:pointer}
.button:focus-visible,button:focus-visible,input:focus-visible{outline:3px solid #9db7f5;outline-offset:2px}
button.secondary{background:var(--card);color:var(--ink);border-color:var(--line);font-weight:500;padding:.35rem .8rem}
.actions{display:flex;align-items:center;gap:1rem;flex-wrap:wrap;margin:0}.spaced{margin-top:1rem}.spaced-below{margin-bottom:1rem}
.flash{border-radius:.5rem;padding:.8rem 1rem;margin:0 0 1.5rem;border:1px solid}
.flash strong{display:block}
.flash.ok{background:var(--ok-bg);color:var(--ok);border-color:#b5dcc4}.flash.bad{background:var(--bad-bg);color:var(--bad);border-color:#f3c1b9}
ol.steps{margin:0 0 1rem;padding:0;list-style:none;counter-reset:step}
ol.steps li{position:relative;padding:.1rem 0 .6rem 2.25rem;counter-increment:step}
ol.steps li::before{content:counter(step);position:absolute;left:0;top:.1rem;width:1.5rem;height:1.5rem;border-radius:50%;background:#e8edf8;color:var(--accent);font-size:.8rem;font-weight:700;display:grid;place-items:center}
time.when{font-variant-numeric:tabular-nums;color:var(--muted);margin-right:.35rem}
.added{color:var(--ok);font-weight:600}.removed{color:var(--bad);font-weight:600}
code{font-size:.9em;background:#eef1f5;border-radius:.25rem;padding:.05rem .3rem}
.muted{color:var(--muted)}.small{font-size:.85rem;margin:0}
fieldset{border:0;padding:0;margin:0 0 1rem}legend{color:var(--muted);margin-bottom:.5rem}
.choice{display:flex;align-items:center;gap:.6rem;border:1px solid var(--line);border-radius:.45rem;padding:.6rem .8rem;margin:0 0 .5rem;cursor:pointer}
.choice input{width:1.1rem;height:1.1rem;margin:0}
footer{max-width:54rem;margin:0 auto 2rem;padding:0 1.5rem;color:var(--muted);font-size:.8rem}
</style></head><body>
<a class="skip" href="#content">Skip to content</a>
<header><span class="brand"><span class="mark" aria-hidden="true">EA</span>Example App <span class="tag">handoffkit demo</span></span>{{if .User}}
<form method="post" action="/signout"><span class="muted">Signed in as {{.User}}</span> <button class="secondary" type="submit">Sign out</button></form>{{end}}</header>
<main id="content">{{end}}
{{define "bottom"}}</main>
<footer>An example app for handoffkit. Handoff codes, states, access tokens and cookies are never shown on these pages or written to the logs.</footer>
</body></html>{{end}}`

const homePage = `{{template "top" .}}
{{with .Flash}}<div class="flash {{.Class}}" role="status" id="flash" data-outcome="{{.Outcome}}"><strong>{{.Heading}}</strong> {{.Text}}</div>{{end}}
<section aria-labelledby="conns">
<h1 id="conns">Your connected services</h1>
<p class="lead">The services linked to your BlueNexus account, as this app last read them. Manage them on BlueNexus; you come straight back here.</p>
{{if .Connections}}<table><caption class="sr-only">Connected services</caption>
<thead><tr><th scope="col">Service</th><th scope="col">Account</th><th scope="col">Status</th><th scope="col">Connected</th></tr></thead><tbody>
{{range .Connections}}<tr data-provider="{{.ProviderID}}"><td>{{or .Metadata.ProviderName .ProviderID}}<span class="sub">{{.ProviderID}}</span></td><td>{{or .Metadata.Email .Metadata.DisplayName "—"}}</td><td><span class="badge status-{{.Status}}">{{.Status}}</span></td><td><time datetime="{{.CreatedAt.UTC.Format "2006-01-02T15:04:05Z07:00"}}">{{.CreatedAt.UTC.Format "2 Jan 2006, 15:04 UTC"}}</time></td></tr>
{{end}}</tbody></table>{{else}}<p class="muted" id="no-connections">No services connected yet.</p>{{end}}
<p class="actions"><a class="button" id="manage" href="/manage-connections?next=/">Manage connections</a><span class="muted small">Opens the BlueNexus Manage Connections page.</span></p>
</section>
{{with .Journey}}<section aria-labelledby="what" id="journey">
<h2 id="what">What just happened</h2>
<ol class="steps">
<li><time class="when" datetime="{{.Started.Format "2006-01-02T15:04:05Z07:00"}}">{{.Started.Format "15:04:05"}}</time>{{if .Redirected}}Handoff code minted{{if .RefreshedAtManage}} (your access token had expired: the kit refreshed it first){{end}}; you were sent to the Manage Connections page.{{else}}The handoff did not start (status {{.Status}}).{{end}}</li>
{{if not .Returned.IsZero}}<li><time class="when" datetime="{{.Returned.Format "2006-01-02T15:04:05Z07:00"}}">{{.Returned.Format "15:04:05"}}</time>Returned{{with .Took}} after {{.}}{{end}}: outcome <code data-journey-outcome="{{.Outcome}}">{{.Outcome}}</code>.</li>
{{else if .Redirected}}<li>Not back yet: the return has not reached this app.</li>{{end}}
<li>Refresh hook {{if .HookRan}}ran{{if .RefreshedAtReturn}} with a freshly refreshed access token{{end}}{{if .HookFailed}}, and failed{{end}}{{else}}did not run{{end}}.</li>
<li>Connections before: {{if .Before}}{{range $i, $p := .Before}}{{if $i}}, {{end}}{{$p}}{{end}}{{else}}none{{end}}; after: {{if .HookFailed}}could not be read{{else if .HookRan}}{{if .After}}{{range $i, $p := .After}}{{if $i}}, {{end}}{{$p}}{{end}}{{else}}none{{end}}{{else}}not refreshed{{end}}.{{if or .Added .Removed .Changed}}
<span class="sub" id="diff">{{range .Added}}<span class="added">+ {{.}}</span> {{end}}{{range .Removed}}<span class="removed">− {{.}}</span> {{end}}{{range .Changed}}<span class="changed">~ {{.}}</span> {{end}}</span>{{end}}</li>
</ol>
<p class="muted small">Only times, outcomes and service names are recorded here.</p>
</section>{{end}}
{{template "bottom" .}}`

const signinPage = `{{template "top" .}}
<section aria-labelledby="signin"><h1 id="signin">Sign in</h1>
<p class="lead">This example app has no passwords. Pick a user: each one has a BlueNexus account whose connections the app shows.</p>
<form method="post" action="/signin">
<fieldset><legend>Demo users</legend>
{{range $i, $u := .Users}}<label class="choice"><input type="radio" name="user" value="{{$u}}"{{if not $i}} checked{{end}}> {{$u}}</label>
{{end}}</fieldset>
<button type="submit" id="signin-button">Sign in</button>
</form></section>
{{template "bottom" .}}`

const failurePage = `{{template "top" .}}
<section aria-labelledby="err"><h1 id="err" class="spaced-below">{{.Heading}}</h1>
<div class="flash bad" role="alert" id="flash" data-outcome="{{.Outcome}}"><strong>{{.Summary}}</strong> {{.Text}}</div>
<p class="muted small">Outcome <code>{{.Outcome}}</code>, HTTP status {{.Status}}.</p>
<p class="actions spaced"><a class="button" href="/">Back to your connections</a></p></section>
{{template "bottom" .}}`

func newPages() (*pages, error) {
	base, err := template.New("layout").Parse(layout)
	if err != nil {
		return nil, err
	}
	p := &pages{}
	for _, t := range []struct {
		dst **template.Template
		src string
	}{{&p.home, homePage}, {&p.signin, signinPage}, {&p.failure, failurePage}} {
		c, err := base.Clone()
		if err != nil {
			return nil, err
		}
		if *t.dst, err = c.Parse(t.src); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// flash is the message the `next` page shows for a return's outcome.
type flash struct {
	Outcome              handlers.Outcome
	Class, Heading, Text string
}

var flashes = map[handlers.Outcome]flash{
	"success": {"success", "ok", "Welcome back.",
		"Your connections are up to date."},
	"bluenexus_error": {"bluenexus_error", "bad", "BlueNexus reported an error.",
		"Your connections were not changed here. Try Manage connections again."},
	"hook_failed": {"hook_failed", "bad", "You are back, but the list could not be refreshed.",
		"Your changes on BlueNexus are kept; reload this page shortly to see them."},
}

// journeyView adds to a Journey what the panel derives from it.
type journeyView struct {
	Journey
	Took       time.Duration
	HookFailed bool
}

func newJourneyView(j Journey) *journeyView {
	v := &journeyView{Journey: j, HookFailed: j.Outcome == "hook_failed"}
	if !j.Returned.IsZero() && !j.Started.IsZero() {
		v.Took = j.Returned.Sub(j.Started).Round(time.Second)
	}
	if !j.HookRan || v.HookFailed {
		v.Added, v.Removed, v.Changed = nil, nil, nil
	}
	return v
}

func (a *App) home(w http.ResponseWriter, r *http.Request) {
	u, _ := r.Context().Value(ctxKey{}).(user)
	data := struct {
		Title, User string
		Flash       *flash
		Connections []bluenexus.Connection
		Journey     *journeyView
	}{Title: "Your connections", User: u.name}
	if o, ok := a.kit.TakeOutcome(w, r); ok {
		f := flashes[o]
		data.Flash = &f
		a.mu.Lock()
		if j := a.journeys[u.name]; j != nil && j.Returned.IsZero() {
			j.Returned, j.Outcome = time.Now(), o
		}
		a.mu.Unlock()
	}
	a.mu.Lock()
	if j, ok := a.journeys[u.name]; ok {
		data.Journey = newJourneyView(*j)
	}
	a.mu.Unlock()
	conns, err := a.connections(r, u.name)
	if err != nil {
		hlogError(r, err)
		a.render(w, a.pages.failure, http.StatusBadGateway,
			failureData(u.name, "Connections unavailable", "upstream_error", http.StatusBadGateway))
		return
	}
	data.Connections = conns
	w.Header().Set("Cache-Control", "no-store")
	a.render(w, a.pages.home, http.StatusOK, data)
}

// connections returns the app's copy of the user's connections, reading
// them from BlueNexus when it has none yet.
func (a *App) connections(r *http.Request, name string) ([]bluenexus.Connection, error) {
	a.mu.Lock()
	conns, cached := a.cache[name]
	a.mu.Unlock()
	if cached {
		return conns, nil
	}
	tok, err := a.cfg.Tokens.Token(r.Context(), name)
	if err == nil {
		conns, err = a.readConnections(r.Context(), tok)
	}
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.cache[name] = conns
	a.mu.Unlock()
	return conns, nil
}

func (a *App) signinPage(w http.ResponseWriter, r *http.Request) {
	users := slices.Sorted(slices.Values(a.cfg.Users))
	a.render(w, a.pages.signin, http.StatusOK, map[string]any{"Title": "Sign in", "Users": users})
}

func (a *App) signin(w http.ResponseWriter, r *http.Request) {
	if !a.sameOrigin(r) {
		http.Error(w, "cross-site form post refused", http.StatusForbidden)
		return
	}
	name := r.PostFormValue("user")
	if !slices.Contains(a.cfg.Users, name) {
		http.Error(w, "unknown user", http.StatusBadRequest)
		return
	}
	if err := a.saveSignIn(r, name); err != nil {
		http.Error(w, "sign-in failed", http.StatusInternalServerError)
		return
	}
	v, err := a.auth.Encode(a.authKey, name)
	if err != nil {
		http.Error(w, "sign-in failed", http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: a.authKey, Value: v, Path: "/", MaxAge: 8 * 3600,
		Secure: !a.cfg.InsecureCookies, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// saveSignIn saves the token pair BlueNexus issued at this sign-in, which
// replaces any older one: the one moment the app saves a pair
// (docs/tokens.md).
func (a *App) saveSignIn(r *http.Request, name string) error {
	if a.cfg.SignIn == nil {
		return nil
	}
	pair, ok, err := a.cfg.SignIn(r.Context(), name)
	if err == nil && ok {
		err = a.cfg.Tokens.Save(r.Context(), name, pair)
	}
	if err != nil {
		loggerFrom(r).Error().Err(err).Str("event", "signin.failed").Msg("saving the sign-in's token pair")
	}
	return err
}

// apiSignin is the sign-in of the app's API clients (the Expo example):
// POST {"user": "alice"} as JSON answers {"user", "token"}, a bearer token
// for the Authorization header, valid 8 hours. Like the sign-in page, it
// has no password: the demo's users are picked, not proven.
func (a *App) apiSignin(w http.ResponseWriter, r *http.Request) {
	var body struct {
		User string `json:"user"`
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		http.Error(w, "content type must be application/json", http.StatusUnsupportedMediaType)
		return
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<10)).Decode(&body); err != nil || !slices.Contains(a.cfg.Users, body.User) {
		http.Error(w, "unknown user", http.StatusBadRequest)
		return
	}
	if err := a.saveSignIn(r, body.User); err != nil {
		http.Error(w, "sign-in failed", http.StatusInternalServerError)
		return
	}
	tok, err := a.auth.Encode(bearerName, body.User)
	if err != nil {
		http.Error(w, "sign-in failed", http.StatusInternalServerError)
		return
	}
	writeJSON(w, map[string]string{"user": body.User, "token": tok})
}

// apiConnections answers the signed-in user's connections as the app last
// read them (after a return, as the on-return hook read them):
// {"connections": [...]} in the Connections API's shape.
func (a *App) apiConnections(w http.ResponseWriter, r *http.Request) {
	u, _ := r.Context().Value(ctxKey{}).(user)
	conns, err := a.connections(r, u.name)
	if err != nil {
		hlogError(r, err)
		http.Error(w, "connections unavailable", http.StatusBadGateway)
		return
	}
	if conns == nil {
		conns = []bluenexus.Connection{}
	}
	writeJSON(w, map[string]any{"connections": conns})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}

func (a *App) signout(w http.ResponseWriter, r *http.Request) {
	if !a.sameOrigin(r) {
		http.Error(w, "cross-site form post refused", http.StatusForbidden)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: a.authKey, Value: "", Path: "/", MaxAge: -1,
		Secure: !a.cfg.InsecureCookies, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// sameOrigin refuses cross-site form posts: a browser's Sec-Fetch-Site or
// Origin must say the post came from this app.
func (a *App) sameOrigin(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" && o != a.cfg.PublicURL {
		return false
	}
	return true
}

// kitError renders the kit's failures as the app's own pages, and records
// the outcome for the "what just happened" panel.
func (a *App) kitError(w http.ResponseWriter, r *http.Request, err error) {
	var he *handlers.Error
	if !errors.As(err, &he) {
		handlers.DefaultErrorHandler(w, r, err)
		return
	}
	outcome := he.Outcome
	if u, ok := r.Context().Value(ctxKey{}).(user); ok && r.URL.Path == "/connections/return" {
		a.mu.Lock()
		if j := a.journeys[u.name]; j != nil {
			j.Returned, j.Outcome = time.Now(), outcome
		}
		a.mu.Unlock()
	}
	if r.Header.Get("Accept") == "application/json" || r.Method == http.MethodPost {
		handlers.DefaultErrorHandler(w, r, err)
		return
	}
	if outcome == "client_gone" {
		w.WriteHeader(he.Status)
		return
	}
	status := he.Status
	u, _ := r.Context().Value(ctxKey{}).(user)
	heading := http.StatusText(status)
	switch {
	case r.URL.Path == "/manage-connections":
		heading = "Manage connections did not open"
	case outcome == "bluenexus_error" || outcome == "hook_failed":
		heading = "Back from BlueNexus"
	case r.URL.Path == "/connections/return":
		heading = "This return was not accepted"
	}
	if he.RetryAfter > 0 {
		// What the kit's own error page sends: the user may try again then.
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(he.RetryAfter.Seconds()))))
	}
	a.render(w, a.pages.failure, status, failureData(u.name, heading, outcome, status))
}

// failure explains an outcome on the error page: what happened, and what
// the user can do. It never carries request data.
type failure struct{ Summary, Text string }

var failures = map[handlers.Outcome]failure{
	"expired": {"That connection flow expired.",
		"Nothing was changed here. Start again from Manage connections."},
	"replayed": {"That return link was already used.",
		"It works once; nothing was changed twice. Your connections are on the home page."},
	"wrong_user": {"This connection flow was started by another account.",
		"Nothing was changed. Sign in with that account, or start again from Manage connections."},
	"unknown_state": {"This return does not match a connection flow of this app.",
		"Nothing was changed. Start again from Manage connections."},
	"no_flow": {"There is no connection flow waiting in this browser.",
		"It was already completed, or it was started elsewhere. Nothing was changed."},
	"malformed": {"The return link is malformed.",
		"Nothing was changed. Start again from Manage connections."},
	"bluenexus_error": {"BlueNexus reported an error.",
		"Your connections were not changed here. Try again shortly."},
	"hook_failed": {"You are back, but the list could not be refreshed.",
		"Your changes on BlueNexus are kept; reload shortly to see them."},
	"unavailable": {"BlueNexus is not answering right now.",
		"The app stopped trying for a moment. Please try again shortly."},
	"upstream_error": {"BlueNexus failed to answer.",
		"Please try again shortly."},
	"token_expired": {"Your BlueNexus session has expired.",
		"Please sign in again."},
	"client_criteria": {"BlueNexus could not verify your network.",
		"If you use a VPN or proxy, try without it."},
	"forbidden": {"This app is not set up correctly with BlueNexus.",
		"The app's BlueNexus client is not a white-label client; the operator has been told in the logs."},
	"bad_response": {"BlueNexus sent an answer the app could not use.",
		"Please try again."},
	"no_client_ip": {"Your network address could not be determined.",
		"The secure handoff needs it, so it did not start."},
	"unauthenticated": {"Please sign in first.",
		"Your BlueNexus account is not linked to this session."},
	"bad_request": {"The request was not valid.",
		"Use the Manage connections button on the home page."},
	"state_unavailable": {"This connection flow could not be checked right now.",
		"Nothing was changed. Please try again shortly."},
	"internal": {"Something went wrong in the app.",
		"Please try again."},
}

func failureData(user, heading string, o handlers.Outcome, status int) map[string]any {
	f, ok := failures[o]
	if !ok {
		f = failure{"The request could not be completed.", "Please try again."}
	}
	return map[string]any{"Title": heading, "User": user, "Heading": heading,
		"Outcome": o, "Status": status, "Summary": f.Summary, "Text": f.Text}
}

func (a *App) render(w http.ResponseWriter, t *template.Template, status int, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	// same-origin, not no-referrer: the app's own form posts keep a real
	// Origin header, which sameOrigin checks.
	w.Header().Set("Referrer-Policy", "same-origin")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if err := t.Execute(w, data); err != nil {
		// Headers are gone; the access log has the status.
		return
	}
}

func hlogError(r *http.Request, err error) {
	loggerFrom(r).Warn().Str("event", "demo.connections_failed").Err(err).Msg("reading connections failed")
}
