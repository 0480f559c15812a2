package middleware

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
)

// ClientIPReport returns a handler that answers, as JSON, what s derives for
// the request it serves: the client IP or why there is none, and, for the
// built-in strategies, each address walked and whether it was trusted. It
// echoes no header value but addresses. Mount it behind admin authentication
// and call it through the load balancer (docs/client-ip.md section 1).
func ClientIPReport(s Strategy) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep := report{Strategy: fmt.Sprintf("%T", s), Hops: []hop{}} // a custom strategy's type, or <nil>
		t := &trace{}
		if e, ok := s.(explainer); ok {
			rep.Strategy = e.describe()
			_, _ = e.derive(r, t) // the hops; the answer below is what ClientIP sees
			rep.Hops = t.hops
		}
		if ip, err := resolve(s, r); err != nil {
			rep.Error = err.Error() // names the header, never a value
		} else {
			rep.ClientIP = ip.String()
		}
		b, _ := json.MarshalIndent(rep, "", "  ") // strings and bools: cannot fail
		h := w.Header()
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(append(b, '\n'))
	})
}

// explainer is a built-in strategy: it can record its walk.
type explainer interface {
	describe() string
	derive(r *http.Request, t *trace) (netip.Addr, error)
}

type report struct {
	Strategy string `json:"strategy"`
	ClientIP string `json:"clientIP,omitempty"`
	Error    string `json:"error,omitempty"`
	Hops     []hop  `json:"hops"`
}

// hop is one address a strategy looked at.
type hop struct {
	Address netip.Addr `json:"address"` // "" for a malformed entry: its value is never echoed
	From    string     `json:"from"`    // fromPeer or the header name
	Trusted bool       `json:"trusted"`
	Why     string     `json:"why"`
}

const fromPeer = "TCP peer"

// trace records a strategy's walk for ClientIPReport. Its methods do
// nothing on a nil *trace, which is what ClientIP passes.
type trace struct{ hops []hop }

func (t *trace) add(ip netip.Addr, from string, trusted bool, why string) {
	if t != nil {
		t.hops = append(t.hops, hop{Address: ip, From: from, Trusted: trusted, Why: why})
	}
}
