package browsertest

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

var updateScreenshots = flag.Bool("update-screenshots", false,
	"rewrite the walkthrough's images in docs/screenshots from the plain-http run")

const (
	// tabBudget bounds each scenario: every browser action of one test runs
	// under it, so a hung page fails the test instead of the whole run.
	tabBudget = 60 * time.Second
	// suiteBudget bounds the browser process itself.
	suiteBudget = 4 * time.Minute
	// viewport is the width of every page and screenshot, in CSS pixels.
	viewportWidth, viewportHeight = 1024, 720
)

// browserPaths are tried in order after $HANDOFFKIT_CHROMIUM.
var browserPaths = []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"}

// findBrowser returns the browser binary, or skips the test loudly (fails it
// under CI=true) when there is none.
func findBrowser(t *testing.T) string {
	t.Helper()
	candidates := browserPaths
	if p := os.Getenv("HANDOFFKIT_CHROMIUM"); p != "" {
		candidates = []string{p}
	}
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	msg := fmt.Sprintf("browsertest: NO BROWSER: none of %v found; the real-browser tests did NOT run. "+
		"Install Debian's chromium package (make deps) or set HANDOFFKIT_CHROMIUM.", candidates)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	fmt.Println(msg)
	t.Skip(msg)
	return ""
}

// startBrowser starts one headless Chromium for the whole suite, with a
// fresh profile, and returns a context that holds it. Scenarios open their
// own browser contexts (like private windows) in it with [newWindow].
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	path := findBrowser(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		// The TLS runs serve httptest's self-signed certificate.
		chromedp.IgnoreCertErrors,
		chromedp.WindowSize(viewportWidth, viewportHeight),
		chromedp.UserDataDir(t.TempDir()),
	)
	budget, cancelBudget := context.WithTimeout(context.Background(), suiteBudget)
	alloc, cancelAlloc := chromedp.NewExecAllocator(budget, opts...)
	ctx, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancelBudget()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("browsertest: starting %s: %v", path, err)
	}
	return ctx
}

// tab is one browser tab and what it saw on the network.
type tab struct {
	ctx context.Context
	net *recorder
}

// newWindow opens a tab in a new browser context: its own cookie jar and
// history, like a private window. Everything it does must finish within
// tabBudget.
func newWindow(t *testing.T, browser context.Context) *tab {
	t.Helper()
	budget, cancelBudget := context.WithTimeout(browser, tabBudget)
	rec := &recorder{}
	ctx, cancel := chromedp.NewContext(budget, chromedp.WithNewBrowserContext(), chromedp.WithListener(rec.listen))
	t.Cleanup(func() {
		cancel()
		cancelBudget()
	})
	return openTab(t, ctx, rec)
}

// newTab opens another tab in the same browser context as tb: same cookies,
// its own history. It shares tb's network recorder.
func (tb *tab) newTab(t *testing.T) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(tb.ctx, chromedp.WithListener(tb.net.listen))
	t.Cleanup(cancel)
	return openTab(t, ctx, tb.net)
}

func openTab(t *testing.T, ctx context.Context, rec *recorder) *tab {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(viewportWidth, viewportHeight)); err != nil {
		t.Fatalf("browsertest: opening a tab: %v", err)
	}
	return &tab{ctx: ctx, net: rec}
}

// navigate loads u and returns the response of the final document.
func (tb *tab) navigate(t *testing.T, u string) *network.Response {
	t.Helper()
	resp, err := chromedp.Run(tb.ctx, chromedp.NavigateResponse(u))
	if err != nil {
		t.Fatalf("navigate %s: %v", redact(u), err)
	}
	return resp
}

// click clicks the element sel and waits for the navigation it causes.
func (tb *tab) click(t *testing.T, sel string) *network.Response {
	t.Helper()
	resp, err := chromedp.RunResponse(tb.ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
	return resp
}

// back goes one step back in the tab's history and waits for the page.
func (tb *tab) back(t *testing.T) {
	t.Helper()
	if err := chromedp.Do(tb.ctx, chromedp.NavigateBack()); err != nil {
		t.Fatalf("back: %v", err)
	}
}

func (tb *tab) history(t *testing.T) page.GetNavigationHistoryResult {
	t.Helper()
	h, err := chromedp.Run(tb.ctx, chromedp.NavigationEntries())
	if err != nil {
		t.Fatalf("history: %v", err)
	}
	return h
}

func (tb *tab) location(t *testing.T) string {
	t.Helper()
	loc, err := chromedp.Run(tb.ctx, chromedp.Location())
	if err != nil {
		t.Fatalf("location: %v", err)
	}
	return loc
}

// text returns the rendered text of the page's body.
func (tb *tab) text(t *testing.T) string {
	t.Helper()
	s, err := chromedp.Run(tb.ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatalf("page text: %v", err)
	}
	return s
}

// attr returns the attribute of the first element matching sel, and whether
// there is such an element. It does not wait.
func (tb *tab) attr(t *testing.T, sel, name string) (string, bool) {
	t.Helper()
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%s); return e ? [true, e.getAttribute(%s) || ""] : [false, ""]; })()`,
		jsString(sel), jsString(name))
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[[]any](js))
	if err != nil || len(v) != 2 {
		t.Fatalf("attr %s %s: %v", sel, name, err)
	}
	found, _ := v[0].(bool)
	s, _ := v[1].(string)
	return s, found
}

// attrs returns the attribute of every element matching sel.
func (tb *tab) attrs(t *testing.T, sel, name string) []string {
	t.Helper()
	js := fmt.Sprintf(`Array.from(document.querySelectorAll(%s), e => e.getAttribute(%s) || "")`, jsString(sel), jsString(name))
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[[]string](js))
	if err != nil {
		t.Fatalf("attrs %s %s: %v", sel, name, err)
	}
	return v
}

// do runs actions that cause no navigation.
func (tb *tab) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(tb.ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// cookies returns the browser's cookies for u, read through the DevTools
// protocol (the HttpOnly ones included).
func (tb *tab) cookies(t *testing.T, u string) []*network.Cookie {
	t.Helper()
	res, err := chromedp.Call(tb.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{u}})
	if err != nil {
		t.Fatalf("cookies: %v", err)
	}
	return res.Cookies
}

// fullPage captures the whole document, not only the viewport, as a PNG.
func (tb *tab) fullPage() ([]byte, error) {
	return chromedp.Run(tb.ctx, func(ctx context.Context, tg *chromedp.Target) ([]byte, error) {
		m, err := cdp.Call(ctx, tg, page.GetLayoutMetrics, cdp.Empty{})
		if err != nil {
			return nil, err
		}
		if m.CSSContentSize == nil {
			return nil, errors.New("no content size")
		}
		res, err := cdp.Call(ctx, tg, page.CaptureScreenshot, page.CaptureScreenshotParams{
			Format:                page.CaptureScreenshotFormatPng,
			CaptureBeyondViewport: new(true),
			FromSurface:           new(true),
			Clip:                  &page.Viewport{Width: viewportWidth, Height: max(m.CSSContentSize.Height, 1), Scale: 1},
		})
		return res.Data, err
	})
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// recorder keeps what the browser sent and received, for the Referer and
// cookie checks. Its listen method runs in chromedp's event loop: it only
// copies.
type recorder struct {
	mu         sync.Mutex
	requests   []sentRequest
	setCookies []string // every Set-Cookie line received, as sent on the wire
	blocked    []string // Set-Cookie lines the browser refused, with the reasons
}

type sentRequest struct {
	url, referer string
}

func (r *recorder) listen(ev any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		if ev.Request != nil {
			r.requests = append(r.requests, sentRequest{url: ev.Request.URL, referer: header(ev.Request.Headers, "Referer")})
		}
	case *network.EventRequestWillBeSentExtraInfo:
		// The headers that went on the wire.
		r.requests = append(r.requests, sentRequest{referer: header(ev.Headers, "Referer")})
	case *network.EventResponseReceivedExtraInfo:
		for line := range strings.SplitSeq(header(ev.Headers, "Set-Cookie"), "\n") {
			if line != "" {
				r.setCookies = append(r.setCookies, line)
			}
		}
		for _, b := range ev.BlockedCookies {
			r.blocked = append(r.blocked, fmt.Sprintf("%s %v", cookieName(b.CookieLine), b.BlockedReasons))
		}
	}
}

func (r *recorder) snapshot() (reqs []sentRequest, setCookies, blocked []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sentRequest(nil), r.requests...), append([]string(nil), r.setCookies...), append([]string(nil), r.blocked...)
}

// secrets returns the handoff codes and states the browser carried in URLs:
// the white-label page's code and the return's state.
func (r *recorder) secrets() (codes, states []string) {
	reqs, _, _ := r.snapshot()
	seen := map[string]bool{}
	for _, q := range reqs {
		u, err := url.Parse(q.url)
		if err != nil {
			continue
		}
		for _, v := range u.Query()["code"] {
			if v != "" && !seen[v] {
				seen[v] = true
				codes = append(codes, v)
			}
		}
		for _, v := range u.Query()["state"] {
			if v != "" && !seen[v] {
				seen[v] = true
				states = append(states, v)
			}
		}
	}
	return codes, states
}

// returnURLs lists the /connections/return URLs the browser requested.
func (r *recorder) returnURLs() []string {
	reqs, _, _ := r.snapshot()
	var out []string
	for _, q := range reqs {
		if u, err := url.Parse(q.url); err == nil && u.Path == "/connections/return" {
			out = append(out, q.url)
		}
	}
	return out
}

// header reads a header case-insensitively from the protocol's header map.
func header(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

func cookieName(line string) string {
	name, _, _ := strings.Cut(line, "=")
	return strings.TrimSpace(name)
}

// redact shortens URLs for failure messages: test output never prints a
// code or a state either.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparseable URL)"
	}
	if p.RawQuery != "" {
		p.RawQuery = "…"
	}
	return p.String()
}
