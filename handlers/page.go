package handlers

import (
	"cmp"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"
)

// DefaultErrorHandler is the error handler used unless [WithErrorHandler]
// sets another. For an [*Error] it writes its Status with its Message, as
// JSON ({"error": outcome, "message": text}) when the request prefers
// application/json, and otherwise as a small HTML page with a link back to
// the Error's Next page. It adds Retry-After when the Error has one. It never
// writes the error's own text, and writes nothing for "client_gone" (the
// browser is not there to read it). An error of another type is answered as
// "internal" (500). Logging is done by the kit before it calls the error
// handler.
func DefaultErrorHandler(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = newError(OutcomeInternal, err)
	}
	if e.Outcome == OutcomeClientGone {
		w.WriteHeader(e.Status)
		return
	}
	h := w.Header()
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((e.RetryAfter+999_999_999)/1_000_000_000)))
	}
	h.Set("X-Content-Type-Options", "nosniff")
	msg := cmp.Or(e.Message, outcomes[OutcomeInternal].msg)
	if wantsJSON(r) {
		h.Set("Content-Type", "application/json")
		w.WriteHeader(e.Status)
		json.NewEncoder(w).Encode(struct {
			Error   Outcome `json:"error"`
			Message string  `json:"message"`
		}{e.Outcome, msg})
		return
	}
	next := cmp.Or(e.Next, "/")
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(e.Status)
	errorPage.Execute(w, struct {
		Title, Message, Next string
	}{http.StatusText(e.Status), msg, next})
}

// errorPage is the default error page: the message and a link back, with
// no script, no style and no external resource.
var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><title>{{.Title}}</title></head><body><main>
<h1>{{.Title}}</h1>
<p id="message">{{.Message}}</p>
<a id="back" href="{{.Next}}">Back</a>
</main></body></html>
`))

// wantsJSON reports whether the Accept header prefers application/json to
// text/html: the first of the two listed wins. Without an Accept header,
// HTML. (A full q-value negotiation buys nothing for two media types that
// clients list plainly; this reads them in order.)
func wantsJSON(r *http.Request) bool {
	accept := strings.ToLower(r.Header.Get("Accept"))
	j, h := strings.Index(accept, "application/json"), strings.Index(accept, "text/html")
	return j >= 0 && (h < 0 || j < h)
}
