package urlbuild

import (
	"net/url"
	"strings"
)

// stateParam is the query parameter [RedirectURI] carries the flow state in.
const stateParam = "state"

// WhiteLabelURL returns base with the query parameter param set to code, for
// the redirect to the BlueNexus white-label page.
//
// The base's own query parameters are kept verbatim, in order, except those
// named param (compared after unescaping), which are replaced by the single
// new one at the end. The fragment is dropped. param and code are escaped with
// [url.QueryEscape]. Parameters are separated by '&' only; a ';' is part of a
// value, as in [url.ParseQuery].
//
// base comes from configuration (never from the request) and param must be
// non-empty; the caller validates both once, at construction. The result is
// built in one allocation for an absolute base URL without userinfo, avoiding
// a [url.Values] round trip that would reorder and re-escape the base's query.
func WhiteLabelURL(base *url.URL, param, code string) string {
	return withParam(base, param, code)
}

// RedirectURI returns base with the query parameter "state" set
// to state: the redirectUri sent on the handoff init call, which BlueNexus
// sends the browser back to. It keeps the base's own query like
// [WhiteLabelURL] and drops the fragment.
func RedirectURI(base *url.URL, state string) string {
	return withParam(base, stateParam, state)
}

// withParam does the work of [WhiteLabelURL] and [RedirectURI].
func withParam(base *url.URL, key, value string) string {
	ek := url.QueryEscape(key)
	ev := url.QueryEscape(value)
	kept := keptQuery(base.RawQuery, key, ek)

	path := base.EscapedPath()
	var b strings.Builder
	if plainAuthority(base) && (path == "" || path[0] == '/') {
		b.Grow(len(base.Scheme) + 3 + len(base.Host) + len(path) + 1 + len(kept) + 1 + len(ek) + 1 + len(ev))
		b.WriteString(base.Scheme)
		b.WriteString("://")
		b.WriteString(base.Host)
		b.WriteString(path)
	} else {
		u := *base
		u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
		prefix := u.String()
		b.Grow(len(prefix) + 1 + len(kept) + 1 + len(ek) + 1 + len(ev))
		b.WriteString(prefix)
	}
	b.WriteByte('?')
	if kept != "" {
		b.WriteString(kept)
		b.WriteByte('&')
	}
	b.WriteString(ek)
	b.WriteByte('=')
	b.WriteString(ev)
	return b.String()
}

// plainAuthority reports whether base is an absolute URL whose scheme and host
// can be written as they are: what [url.URL.String] would write for them.
func plainAuthority(base *url.URL) bool {
	if base.Scheme == "" || base.Host == "" || base.Opaque != "" || base.User != nil {
		return false
	}
	for i := 0; i < len(base.Host); i++ {
		c := base.Host[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '.' || c == '-' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}

// keptQuery returns raw without the parameters named key (ek escaped) and
// without empty segments. It returns raw itself, without copying, when there
// is nothing to remove.
func keptQuery(raw, key, ek string) string {
	if !needsRewrite(raw, key, ek) {
		return raw
	}
	var b strings.Builder
	b.Grow(len(raw))
	for seg := range strings.SplitSeq(raw, "&") {
		if seg == "" || segmentKeyIs(seg, key, ek) {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(seg)
	}
	return b.String()
}

// needsRewrite reports whether raw has an empty segment or one naming key.
func needsRewrite(raw, key, ek string) bool {
	for raw != "" {
		seg := raw
		if i := strings.IndexByte(raw, '&'); i >= 0 {
			seg, raw = raw[:i], raw[i+1:]
			if raw == "" {
				return true // trailing '&'
			}
		} else {
			raw = ""
		}
		if seg == "" || segmentKeyIs(seg, key, ek) {
			return true
		}
	}
	return false
}

// segmentKeyIs reports whether the query segment seg ("k=v" or "k") names key.
func segmentKeyIs(seg, key, ek string) bool {
	k, _, _ := strings.Cut(seg, "=")
	if k == ek {
		return true
	}
	if !strings.ContainsAny(k, "%+") {
		return k == key // k unescapes to itself
	}
	uk, err := url.QueryUnescape(k)
	return err == nil && uk == key
}
