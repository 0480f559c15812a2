// Package bluenexus is a typed client for the parts of the BlueNexus API
// that the Manage Connections flow needs: the authentication handoff
// ([Client.InitHandoff]), the refresh of the user's access token
// ([Client.Refresh], [TokenSource]) and the Connections API
// ([Client.AllConnections]).
//
// Create one [Client] with [NewClient] and share it. Each call has a time
// budget ([WithTimeout]), goes through a circuit breaker and classifies
// its failure once: an [*APIError] for BlueNexus's error answers, or one of
// [ErrTimeout], [ErrConnection], [ErrBadResponse] and [ErrCircuitOpen].
//
// [AccessToken], [RefreshToken] and [Code] print, format and marshal as
// [REDACTED]; their Reveal method returns the value. No error carries a
// secret. docs/BLUENEXUS.md and docs/tokens.md say more.
package bluenexus
