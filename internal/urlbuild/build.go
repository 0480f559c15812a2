package urlbuild

import "net/url"

// WhiteLabelURL returns base with the query parameter param set to code and
// without its fragment: the BlueNexus white-label page to redirect to.
func WhiteLabelURL(base *url.URL, param, code string) string {
	u := *base
	u.Fragment, u.RawFragment = "", ""
	if u.RawQuery == "" { // what q.Encode gives, without the map
		u.RawQuery = url.QueryEscape(param) + "=" + url.QueryEscape(code)
		return u.String()
	}
	q := u.Query()
	q.Set(param, code)
	u.RawQuery = q.Encode()
	return u.String()
}

// RedirectURI returns base with the query parameter "state" set to state and
// without its fragment: the redirectUri of the handoff init call.
func RedirectURI(base *url.URL, state string) string {
	return WhiteLabelURL(base, "state", state)
}
