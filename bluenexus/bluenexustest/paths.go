package bluenexustest

import "github.com/handoffkit/handoffkit/internal/bnwire"

// API paths the emulator serves, relative to [Server.URL], for test authors
// who call it by hand, count [Server.Hits] or [Server.Inject] faults.
const (
	// PathHandoffInit mints a handoff code (POST).
	PathHandoffInit = bnwire.PathHandoffInit
	// PathConnections lists connections (GET); PathConnections + "/{id}"
	// and PathConnections + "/{id}/refresh" address one.
	PathConnections = bnwire.PathConnections
	// PathToken is the OAuth token endpoint (POST, grant_type=refresh_token).
	PathToken = bnwire.PathToken
)
