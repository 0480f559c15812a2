package handlers

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"github.com/handoffkit/handoffkit/bluenexus"
)

// runHook runs the on-return hook under its time limit, on a context that
// keeps the request's values but not its cancellation. A hook that overran
// its time limit failed, whatever it returned. The error it returns has the
// hook's text scrubbed of secrets (see [scrub]) and wraps the hook's error.
func (k *Kit) runHook(r *http.Request, state string, ev ReturnEvent) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), k.cfg.hookTimeout)
	defer cancel()
	err := k.cfg.onReturn(ctx, ev)
	if ctx.Err() != nil {
		err = fmt.Errorf("on-return hook overran WithHookTimeout (%v): %w", k.cfg.hookTimeout, ctx.Err())
	}
	if err == nil {
		return nil
	}
	auth := r.Header.Get("Authorization")
	secrets := []string{state, auth, auth[strings.LastIndex(auth, " ")+1:]}
	ev.handed.Range(func(tok, _ any) bool {
		secrets = append(secrets, tok.(string))
		return true
	})
	for _, c := range r.Cookies() {
		secrets = append(secrets, c.Value)
	}
	return &hookError{msg: scrub(err.Error(), secrets), err: err}
}

// hookError is a hook's error with its text scrubbed.
type hookError struct {
	msg string
	err error
}

func (e *hookError) Error() string { return e.msg }
func (e *hookError) Unwrap() error { return e.err }

var (
	queryRE = regexp.MustCompile(`\?[^\s"'<>]+`)
	tokenRE = regexp.MustCompile(`[A-Za-z0-9_-]{20,}`)
)

// scrub returns msg without the secrets, any query string, and any run of
// 20 or more base64url characters (a code or token the kit never saw).
func scrub(msg string, secrets []string) string {
	for _, s := range secrets {
		if len(s) >= 4 {
			msg = strings.ReplaceAll(msg, s, "[REDACTED]")
		}
	}
	msg = queryRE.ReplaceAllString(msg, "?[REDACTED]")
	return tokenRE.ReplaceAllString(msg, "[REDACTED]")
}

// handed records the access tokens a [ReturnEvent] gave the hook.
type handed struct{ sync.Map }

func (h *handed) add(tok bluenexus.AccessToken) bluenexus.AccessToken {
	if h != nil && tok != "" {
		h.Store(string(tok), true)
	}
	return tok
}
