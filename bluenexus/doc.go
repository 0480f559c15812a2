// Package bluenexus is a typed client for the parts of the BlueNexus API that
// the Manage Connections flow needs: the authentication handoff
// (POST /api/v1/auth/handoff/init) and the Connections API.
//
// The client forwards the end user's IP address on the handoff call in a
// configurable header, so that BlueNexus's IP fingerprint matches the browser
// that opens the white-label page even though the app's server makes the call.
//
// Secret values (access tokens and handoff codes) are distinct types that
// print, format and marshal as [REDACTED]; read the value with their Reveal
// method only where it must go on the wire.
package bluenexus
