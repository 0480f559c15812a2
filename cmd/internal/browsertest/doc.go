// Package browsertest runs the whole Manage Connections flow in a real
// browser: headless Chromium, driven over the DevTools protocol by chromedp,
// against the example app of package demoapp and the BlueNexus emulator of
// package bluenexustest, both served in-process on 127.0.0.1.
//
// The package has no code of its own, only tests. They sign in, open the
// emulator's white-label page, connect and remove services, come back, and
// check what a user sees and what the browser did: the result on the home
// page and its flash message, the "what just happened" panel, the outcome of
// a return carrying BlueNexus `error` parameters, that the back button and a
// second request of the return URL replay nothing, that two tabs complete
// two flows, the cookies' attributes (Secure over TLS, HttpOnly,
// SameSite=Lax), and that no request's Referer carries a handoff code or a
// state. They run once over plain http with the app's explicit development
// option for cookies, and once over TLS.
//
// The tests look for Chromium at /usr/bin/chromium, then on PATH (chromium,
// chromium-browser, google-chrome); HANDOFFKIT_CHROMIUM names another
// binary. Without one they skip, loudly, except under CI=true, where they
// fail.
//
// Each step leaves a full-page PNG in $HANDOFFKIT_SCREENSHOTS, or in a new
// temporary folder; the test log names the folder. With the test flag
// -update-screenshots the walkthrough's images in docs/screenshots are
// rewritten from the plain-http run:
//
//	go test ./cmd/internal/browsertest -run 'TestBrowser/^http$' -update-screenshots
package browsertest
