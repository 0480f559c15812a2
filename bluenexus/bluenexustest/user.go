package bluenexustest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// User is an end user who goes through the white-label page in a test, so
// that the test does not have to scrape the page: given the app's answer to
// /manage-connections, it opens the page, connects and removes providers,
// and leaves by Done ([User.Done], [User.ReturnError]) or by closing the
// page ([User.Cancel]). It sends every request with the client given to
// [NewUser], whose cookie jar is the browser's, and follows the page's own
// redirects itself, up to and including the one back to the app.
//
// A User's methods drive one page at a time: the page shows the browser's
// newest white-label session, so run two flows of one client one after the
// other (flows started together may finish in any order).
type User struct {
	emu    *Server
	client *http.Client
}

// NewUser returns a user of the emulator emu who browses with client. The
// client needs a cookie jar (the white-label session and the app's flow
// cookie live there); [NewBrowser] makes a fitting one. The user never
// follows a redirect through the client's own policy: it makes each hop
// itself, so the client's CheckRedirect does not matter. NewUser panics on a
// nil emu or client, or a client without a jar.
func NewUser(emu *Server, client *http.Client) *User {
	switch {
	case emu == nil:
		panic("bluenexustest: NewUser: nil emulator")
	case client == nil:
		panic("bluenexustest: NewUser: nil client")
	case client.Jar == nil:
		panic("bluenexustest: NewUser: the client has no cookie jar (NewBrowser makes one)")
	}
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &User{emu: emu, client: &c}
}

// Return is where the white-label page sent the user when they chose Done.
type Return struct {
	// URL is the redirectUri the page redirected to: exactly as the app
	// gave it at handoff init (the kit puts its state in the query), plus
	// error and error_description after [User.ReturnError].
	URL *url.URL
	// Response is the app's answer to GET URL, made with the user's client
	// and not followed: the kit's Return handler answers 303 to the flow's
	// next page. Its body is already read into memory, so closing it is
	// optional. Response is nil when URL is a deep link (any scheme but
	// http and https, such as yourapp://connections?state=...), which the
	// mobile app opens, not the browser: the test then does what the app
	// does, a POST of {"state": URL's state} to the app's /return.
	Response *http.Response
}

// Action is something the user does on the white-label page before
// leaving it: [Connect] or [Remove].
type Action struct {
	do func(ctx context.Context, p *page) error
}

// Connect presses Connect for provider (google, notion, slack or github):
// it connects the user's primary account of the provider, or reconnects it
// when it is already connected. The step fails unless the page then lists
// a connection of provider.
func Connect(provider string) Action {
	return Action{do: func(ctx context.Context, p *page) error {
		if err := p.post(ctx, "connect "+provider, PathWhiteLabelConnect, url.Values{"provider": {provider}}); err != nil {
			return err
		}
		if len(p.connections(provider)) == 0 {
			return fmt.Errorf("bluenexustest: Connect(%q): the page lists no %s connection afterwards", provider, provider)
		}
		return nil
	}}
}

// Remove presses Remove on each of the user's connections of provider, as
// the page lists them. The step fails when there is none, or when one is
// still listed afterwards.
func Remove(provider string) Action {
	return Action{do: func(ctx context.Context, p *page) error {
		ids := p.connections(provider)
		if len(ids) == 0 {
			return fmt.Errorf("bluenexustest: Remove(%q): the page lists no %s connection", provider, provider)
		}
		for _, id := range ids {
			if err := p.post(ctx, "remove "+provider, PathWhiteLabelRemove, url.Values{"id": {id}}); err != nil {
				return err
			}
		}
		if len(p.connections(provider)) != 0 {
			return fmt.Errorf("bluenexustest: Remove(%q): the page still lists a %s connection", provider, provider)
		}
		return nil
	}}
}

// Done opens the white-label page that start leads to, does acts in order,
// chooses Done, and follows the page's redirect back to the app with the
// user's client (not the app's own redirect after that). start is the
// app's answer to /manage-connections: its 302 to the white-label page, or
// the 200 JSON {"url": ...} that a client asking for application/json gets;
// Done reads and closes its body. The page must be the emulator's.
//
// The error is a [*PageError] when the page refused a step (a code used,
// expired or opened from another network, a bad form), and says what went
// wrong otherwise; the app's answer on the way back is never an error, it
// is in the [Return].
func (u *User) Done(ctx context.Context, start *http.Response, acts ...Action) (*Return, error) {
	return u.finish(ctx, start, nil, acts)
}

// ReturnError is [User.Done], except that the page sends the user back with
// BlueNexus's error parameters, error=code and error_description=
// description, in the redirectUri's query, as after a failure on
// BlueNexus's side. It arms [Server.ReturnWithError] just before choosing
// Done, so no other user of the same emulator may choose Done meanwhile.
func (u *User) ReturnError(ctx context.Context, start *http.Response, code, description string, acts ...Action) (*Return, error) {
	return u.finish(ctx, start, &returnError{code: code, description: description}, acts)
}

// Cancel opens the white-label page that start leads to, does acts, and
// leaves without choosing Done, as a user who closes the tab: nothing goes
// back to the app, so its hook does not run and the flow stays pending
// until it expires. What acts changed stays changed at BlueNexus: the app
// learns of it on the next return. BlueNexus publishes no cancel button;
// for a return with an error, such as access_denied, use
// [User.ReturnError].
func (u *User) Cancel(ctx context.Context, start *http.Response, acts ...Action) error {
	_, err := u.open(ctx, start, acts)
	return err
}

func (u *User) finish(ctx context.Context, start *http.Response, retErr *returnError, acts []Action) (*Return, error) {
	p, err := u.open(ctx, start, acts)
	if err != nil {
		return nil, err
	}
	if retErr != nil {
		u.emu.ReturnWithError(retErr.code, retErr.description)
	}
	resp, err := p.submit(ctx, PathWhiteLabelDone, url.Values{})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusSeeOther {
		return nil, pageError("done", resp)
	}
	drain(resp)
	target, err := resp.Location()
	if err != nil {
		return nil, fmt.Errorf("bluenexustest: done: the page's redirect: %w", err)
	}
	ret := &Return{URL: target}
	if target.Scheme != "http" && target.Scheme != "https" {
		return ret, nil // a deep link: the mobile app's to open
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("bluenexustest: back to the app: %w", err)
	}
	back, err := u.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bluenexustest: back to the app: %w", err)
	}
	defer back.Body.Close()
	body, err := io.ReadAll(io.LimitReader(back.Body, maxAppBody))
	if err != nil {
		return nil, fmt.Errorf("bluenexustest: back to the app: reading the answer: %w", err)
	}
	back.Body = io.NopCloser(bytes.NewReader(body))
	ret.Response = back
	return ret, nil
}

// maxAppBody bounds the app's answer a Return keeps in memory.
const maxAppBody = 1 << 20

// open follows start to the white-label page, exchanges the code and does
// acts.
func (u *User) open(ctx context.Context, start *http.Response, acts []Action) (*page, error) {
	wl, err := whiteLabelLink(start)
	if err != nil {
		return nil, err
	}
	emu, _ := url.Parse(u.emu.URL()) // the emulator's own URL always parses
	if wl.Scheme != emu.Scheme || wl.Host != emu.Host || wl.Path != PathWhiteLabel {
		return nil, fmt.Errorf("bluenexustest: the app sent the user to %s://%s%s, not to the emulator's white-label page %s",
			wl.Scheme, wl.Host, wl.Path, u.emu.WhiteLabelURL())
	}
	p := &page{u: u, base: emu}
	resp, err := p.get(ctx, wl)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusSeeOther {
		return nil, pageError("open", resp)
	}
	drain(resp)
	if err := p.load(ctx, "open"); err != nil {
		return nil, err
	}
	for _, a := range acts {
		if a.do == nil {
			return nil, errors.New("bluenexustest: a zero Action: use Connect or Remove")
		}
		if err := a.do(ctx, p); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// whiteLabelLink reads the white-label URL from the app's answer to
// /manage-connections, and closes its body.
func whiteLabelLink(start *http.Response) (*url.URL, error) {
	if start == nil {
		return nil, errors.New("bluenexustest: no answer from /manage-connections (nil response)")
	}
	defer start.Body.Close()
	switch start.StatusCode {
	case http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusMovedPermanently, http.StatusPermanentRedirect:
		drain(start)
		u, err := start.Location()
		if err != nil {
			return nil, fmt.Errorf("bluenexustest: the app's redirect to the white-label page: %w", err)
		}
		return u, nil
	case http.StatusOK:
		if mt, _, _ := mime.ParseMediaType(start.Header.Get("Content-Type")); mt == "application/json" {
			var v struct {
				URL string `json:"url"`
			}
			if err := json.NewDecoder(io.LimitReader(start.Body, maxAppBody)).Decode(&v); err != nil {
				return nil, fmt.Errorf("bluenexustest: the app's JSON answer: %w", err)
			}
			if v.URL == "" {
				return nil, errors.New(`bluenexustest: the app's JSON answer has no "url"`)
			}
			drain(start)
			return url.Parse(v.URL)
		}
	}
	snippet, _ := io.ReadAll(io.LimitReader(start.Body, 200))
	return nil, fmt.Errorf("bluenexustest: the app answered %s with %s %q: want a redirect to the white-label page or JSON {\"url\"}",
		requestPath(start), start.Status, bytes.TrimSpace(snippet))
}

func requestPath(r *http.Response) string {
	if r.Request == nil || r.Request.URL == nil {
		return "/manage-connections"
	}
	return r.Request.URL.Path
}

// drain reads what is left of a body (a bounded amount), so that the
// connection can be reused, and closes it.
func drain(r *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxAppBody))
	_ = r.Body.Close()
}

// PageError is a white-label page that refused what the user did, or
// answered with another status than the step expects: the HTML error pages
// (400 for an unknown code, 403 for a browser on another network than the
// init call's, 410 for a code used or expired, 401 for no session) and
// anything else unexpected.
type PageError struct {
	// Step is what the user was doing: "open", "connect google",
	// "remove notion" or "done".
	Step string
	// Status is the page's HTTP status.
	Status int
	// Title is the error page's heading, such as "This link has expired",
	// or "" when it has none.
	Title string
}

func (e *PageError) Error() string {
	msg := fmt.Sprintf("bluenexustest: white-label page: %s: status %d", e.Step, e.Status)
	if e.Title != "" {
		msg += ": " + e.Title
	}
	return msg
}

var (
	titleRE = regexp.MustCompile(`<h1 id="error-heading">([^<]*)</h1>`)
	csrfRE  = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)
	connRE  = regexp.MustCompile(`(?s)<li class="conn">(.*?)</li>`)
	provRE  = regexp.MustCompile(`name="provider" value="([^"]*)"`)
	idRE    = regexp.MustCompile(`name="id" value="([^"]*)"`)
)

// pageError builds the PageError of resp and closes its body.
func pageError(step string, resp *http.Response) *PageError {
	defer drain(resp)
	e := &PageError{Step: step, Status: resp.StatusCode}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxAppBody))
	if m := titleRE.FindSubmatch(body); m != nil {
		e.Title = html.UnescapeString(string(m[1]))
	}
	return e
}

// page is the white-label session page as the user last saw it.
type page struct {
	u     *User
	base  *url.URL // the emulator
	csrf  string
	conns []pageConn
}

type pageConn struct{ provider, id string }

func (p *page) get(ctx context.Context, u *url.URL) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("bluenexustest: white-label page: %w", err)
	}
	resp, err := p.u.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bluenexustest: white-label page: %w", err)
	}
	return resp, nil
}

// load reads the session page: its CSRF token and connections.
func (p *page) load(ctx context.Context, step string) error {
	resp, err := p.get(ctx, p.base.JoinPath(PathWhiteLabelSession))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return pageError(step, resp)
	}
	defer drain(resp)
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAppBody))
	if err != nil {
		return fmt.Errorf("bluenexustest: white-label page: %s: %w", step, err)
	}
	m := csrfRE.FindSubmatch(body)
	if m == nil {
		return fmt.Errorf("bluenexustest: white-label page: %s: no csrf_token on the page", step)
	}
	p.csrf = html.UnescapeString(string(m[1]))
	p.conns = p.conns[:0]
	for _, li := range connRE.FindAllSubmatch(body, -1) {
		prov, id := provRE.FindSubmatch(li[1]), idRE.FindSubmatch(li[1])
		if prov != nil && id != nil {
			p.conns = append(p.conns, pageConn{provider: html.UnescapeString(string(prov[1])), id: html.UnescapeString(string(id[1]))})
		}
	}
	return nil
}

// connections returns the ids of the listed connections of provider.
func (p *page) connections(provider string) []string {
	var ids []string
	for _, c := range p.conns {
		if c.provider == provider {
			ids = append(ids, c.id)
		}
	}
	return ids
}

// submit posts a form of the page with its CSRF token.
func (p *page) submit(ctx context.Context, path string, form url.Values) (*http.Response, error) {
	form.Set("csrf_token", p.csrf)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base.JoinPath(path).String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("bluenexustest: white-label page: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := p.u.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bluenexustest: white-label page: %w", err)
	}
	return resp, nil
}

// post submits a form that answers 303 back to the session page, and loads
// the page again.
func (p *page) post(ctx context.Context, step, path string, form url.Values) error {
	resp, err := p.submit(ctx, path, form)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusSeeOther {
		return pageError(step, resp)
	}
	drain(resp)
	return p.load(ctx, step)
}
