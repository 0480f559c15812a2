// Package urlbuild builds the URLs of the handoff flow and checks the places
// the browser may be sent to: [CheckNext] for a local path, [CheckReturnURI] for
// a configured absolute URL (docs/SECURITY.md B6).
//
// Errors are plain and never quote the value; the caller names the setting
// ("handlers: Config.WhiteLabelURL: must be https ...").
package urlbuild
