package demoapp

import (
	"html/template"
	"net/http"
	"slices"
	"time"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/handlers"
)

type pages struct {
	home, signin, failure *template.Template
}

const layout = `{{define "top"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · Example App</title>
<style>
:root{--ink:#1b1f24;--muted:#5b6470;--line:#d8dde3;--accent:#2754c5;--ok:#1d7a46;--bad:#b42318;--bg:#f6f7f9}
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--bg)}
header{background:#fff;border-bottom:1px solid var(--line);padding:.75rem 1.5rem;display:flex;justify-content:space-between;align-items:center}
header strong{font-size:1.1rem}main{max-width:52rem;margin:2rem auto;padding:0 1.5rem}
section{background:#fff;border:1px solid var(--line);border-radius:.5rem;padding:1.25rem 1.5rem;margin-bottom:1.5rem}
h1{font-size:1.5rem;margin:0 0 1rem}h2{font-size:1.15rem;margin:0 0 .75rem}
table{width:100%;border-collapse:collapse}th,td{text-align:left;padding:.5rem;border-bottom:1px solid var(--line)}th{color:var(--muted);font-weight:600;font-size:.9rem}
.button,button{display:inline-block;background:var(--accent);color:#fff;border:0;border-radius:.375rem;padding:.6rem 1.1rem;font:inherit;text-decoration:none;cursor:pointer}
.button:focus,button:focus{outline:3px solid #9db7f5;outline-offset:2px}button.secondary{background:#fff;color:var(--ink);border:1px solid var(--line)}
.flash{border-radius:.375rem;padding:.75rem 1rem;margin-bottom:1.5rem}.flash.ok{background:#e7f5ec;color:var(--ok)}.flash.bad{background:#fdecea;color:var(--bad)}
.status-active{color:var(--ok)}.status-expired,.status-error,.status-revoked{color:var(--bad)}
ol.steps{margin:0;padding-left:1.25rem}ol.steps li{margin:.25rem 0}.muted{color:var(--muted)}
</style></head><body>
<header><strong>Example App</strong>{{if .User}}<form method="post" action="/signout"><span class="muted">Signed in as {{.User}}</span> <button class="secondary" type="submit">Sign out</button></form>{{end}}</header>
<main>{{end}}
{{define "bottom"}}</main></body></html>{{end}}`

const homePage = `{{template "top" .}}
{{with .Flash}}<div class="flash {{.Class}}" role="status" id="flash" data-outcome="{{.Outcome}}">{{.Text}}</div>{{end}}
<section aria-labelledby="conns">
<h1 id="conns">Your connected services</h1>
{{if .Connections}}<table><thead><tr><th scope="col">Service</th><th scope="col">Account</th><th scope="col">Status</th><th scope="col">Connected</th></tr></thead><tbody>
{{range .Connections}}<tr data-provider="{{.ProviderID}}"><td>{{or .Metadata.ProviderName .ProviderID}}</td><td>{{or .Metadata.Email .Metadata.DisplayName "—"}}</td><td class="status-{{.Status}}">{{.Status}}</td><td><time datetime="{{.CreatedAt.Format "2006-01-02T15:04:05Z07:00"}}">{{.CreatedAt.Format "2 Jan 2006 15:04"}}</time></td></tr>
{{end}}</tbody></table>{{else}}<p class="muted" id="no-connections">No services connected yet.</p>{{end}}
<p><a class="button" id="manage" href="/manage-connections?next=/">Manage connections</a></p>
</section>
{{with .Journey}}<section aria-labelledby="what">
<h2 id="what">What just happened</h2>
<ol class="steps">
<li>Flow started {{.Started.Format "15:04:05"}}: {{if .Redirected}}handoff code minted and you were sent to the connections page{{else}}the handoff did not start (status {{.Status}}){{end}}.</li>
{{if not .Returned.IsZero}}<li>Returned {{.Returned.Format "15:04:05"}}: outcome <code>{{.Outcome}}</code>.</li>{{end}}
<li>Refresh hook {{if .HookRan}}ran{{else}}did not run{{end}}.</li>
<li>Connections before: {{if .Before}}{{range $i, $p := .Before}}{{if $i}}, {{end}}{{$p}}{{end}}{{else}}none{{end}}; after: {{if .HookRan}}{{if .After}}{{range $i, $p := .After}}{{if $i}}, {{end}}{{$p}}{{end}}{{else}}none{{end}}{{else}}not refreshed{{end}}.</li>
</ol>
<p class="muted">Codes, states, tokens and cookies are never shown or logged.</p>
</section>{{end}}
{{template "bottom" .}}`

const signinPage = `{{template "top" .}}
<section aria-labelledby="signin"><h1 id="signin">Sign in</h1>
<form method="post" action="/signin">
<fieldset style="border:0;padding:0"><legend class="muted">Pick a demo user</legend>
{{range $i, $u := .Users}}<p><label><input type="radio" name="user" value="{{$u}}"{{if not $i}} checked{{end}}> {{$u}}</label></p>{{end}}
</fieldset>
<button type="submit" id="signin-button">Sign in</button>
</form></section>
{{template "bottom" .}}`

const failurePage = `{{template "top" .}}
<section aria-labelledby="err"><h1 id="err">{{.Heading}}</h1>
<p class="flash bad" role="alert" id="flash" data-outcome="{{.Outcome}}">{{.Text}}</p>
<p><a class="button" href="/">Back to your connections</a></p></section>
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

type flash struct {
	Outcome     handlers.Outcome
	Class, Text string
}

var flashes = map[handlers.Outcome]flash{
	handlers.OutcomeSuccess:        {handlers.OutcomeSuccess, "ok", "Your connections are up to date."},
	handlers.OutcomeBlueNexusError: {handlers.OutcomeBlueNexusError, "bad", "BlueNexus reported an error; your connections were not changed."},
	handlers.OutcomeHookFailed:     {handlers.OutcomeHookFailed, "bad", "You are back, but your connections could not be refreshed. Reload shortly."},
}

func (a *App) home(w http.ResponseWriter, r *http.Request) {
	u, _ := r.Context().Value(ctxKey{}).(user)
	data := struct {
		Title, User string
		Flash       *flash
		Connections []bluenexus.Connection
		Journey     *Journey
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
	conns, cached := a.cache[u.name]
	if j, ok := a.journeys[u.name]; ok {
		jc := *j
		data.Journey = &jc
	}
	a.mu.Unlock()
	if !cached {
		var err error
		if conns, err = a.readConnections(r.Context(), u.token); err != nil {
			hlogError(r, err)
			a.render(w, a.pages.failure, http.StatusBadGateway, map[string]any{"Title": "Error", "User": u.name,
				"Heading": "Connections unavailable", "Outcome": "upstream_error", "Text": "Your connections could not be read. Please reload."})
			return
		}
		a.mu.Lock()
		a.cache[u.name] = conns
		a.mu.Unlock()
	}
	data.Connections = conns
	w.Header().Set("Cache-Control", "no-store")
	a.render(w, a.pages.home, http.StatusOK, data)
}

func (a *App) signinPage(w http.ResponseWriter, r *http.Request) {
	users := make([]string, 0, len(a.cfg.Tokens))
	for name := range a.cfg.Tokens {
		users = append(users, name)
	}
	slices.Sort(users)
	a.render(w, a.pages.signin, http.StatusOK, map[string]any{"Title": "Sign in", "Users": users})
}

func (a *App) signin(w http.ResponseWriter, r *http.Request) {
	if !a.sameOrigin(r) {
		http.Error(w, "cross-site form post refused", http.StatusForbidden)
		return
	}
	name := r.PostFormValue("user")
	if _, ok := a.cfg.Tokens[name]; !ok {
		http.Error(w, "unknown user", http.StatusBadRequest)
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
	outcome := handlers.OutcomeOf(err)
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
	status := handlers.StatusOf(err)
	u, _ := r.Context().Value(ctxKey{}).(user)
	a.render(w, a.pages.failure, status, map[string]any{"Title": "Error", "User": u.name,
		"Heading": http.StatusText(status), "Outcome": outcome, "Text": failureText(outcome)})
}

func failureText(o handlers.Outcome) string {
	switch o {
	case handlers.OutcomeExpired:
		return "That connection flow expired. Start again from Manage connections."
	case handlers.OutcomeReplayed:
		return "That return link was already used; nothing was changed twice."
	case handlers.OutcomeSuperseded:
		return "A newer connection flow replaced this one."
	case handlers.OutcomeUnknownState, handlers.OutcomeNoFlow:
		return "This return does not match a connection flow started in this browser."
	case handlers.OutcomeUnavailable, handlers.OutcomeUpstreamError:
		return "BlueNexus could not be reached. Please try again shortly."
	case handlers.OutcomeNoClientIP:
		return "Your network address could not be determined, so the secure handoff cannot start."
	}
	return "The request could not be completed."
}

func (a *App) render(w http.ResponseWriter, t *template.Template, status int, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(status)
	if err := t.Execute(w, data); err != nil {
		// Headers are gone; the access log has the status.
		return
	}
}

func hlogError(r *http.Request, err error) {
	loggerFrom(r).Warn().Str("event", "demo.connections_failed").Err(err).Msg("reading connections failed")
}
