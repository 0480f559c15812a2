package urlbuild

import "net/url"

// WhiteLabelURL returns base with the query parameter param set to code and
// without its fragment: the BlueNexus white-label page to redirect to.
func WhiteLabelURL(base *url.URL, param, code string) string {
	return withParam(base, param, code)
}

// RedirectURI returns base with the query parameter "state" set to state and
// without its fragment: the redirectUri of the handoff init call.
func RedirectURI(base *url.URL, state string) string {
	return withParam(base, "state", state)
}

func withParam(base *url.URL, key, value string) string {
	u := *base
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}
