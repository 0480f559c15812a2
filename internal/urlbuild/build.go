package urlbuild

import "net/url"

// WithParam returns base with the query parameter name set to value and
// without its fragment: the white-label page with its code, the redirectUri
// with its state.
func WithParam(base *url.URL, name, value string) string {
	u := *base
	u.Fragment, u.RawFragment = "", ""
	if u.RawQuery == "" { // what q.Encode gives, without the map
		u.RawQuery = url.QueryEscape(name) + "=" + url.QueryEscape(value)
		return u.String()
	}
	q := u.Query()
	q.Set(name, value)
	u.RawQuery = q.Encode()
	return u.String()
}
