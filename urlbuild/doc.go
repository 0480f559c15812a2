// Package urlbuild holds the pure URL functions of the handoff flow: building
// the white-label URL and the redirectUri, and checking the places the
// browser may be sent back to.
//
//   - [WhiteLabelURL] and [RedirectURI] add one query parameter (the handoff
//     code, the flow state) to a configured base URL, keeping the base's own
//     query verbatim and dropping any fragment.
//   - [CheckNext] accepts only a local path for the page shown after the
//     return: one leading '/', no "//", no '\', no encoded slash or
//     backslash at any depth, no control characters, whitespace or non-ASCII
//     bytes (SECURITY.md B6).
//   - [CheckReturnURI] accepts an absolute return URI: https, http on
//     loopback only, or an app scheme for mobile deep links; no userinfo, no
//     fragment, nothing that parses two ways. The handlers match a request's choice
//     against such URIs by exact string.
//
// Redirect targets come from configuration or an allowlist, never from the
// Host or X-Forwarded-Host headers; a next path from a query parameter must
// pass [CheckNext] before it is stored and again before it is used.
//
// The file testdata/open-redirects.txt at the repository root is a corpus of
// open-redirect payloads that the tests run through both checks.
//
// The package uses only the standard library. [CheckNext] does not allocate on its common path; the URL
// builders allocate once for an absolute base URL whose query does not
// already hold the parameter.
package urlbuild
