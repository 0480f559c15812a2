package bluenexus

import (
	"net/netip"
	"time"
)

// Intent names what the white-label session may do. BlueNexus publishes one
// value, [IntentConnections]; more may come.
type Intent string

// IntentConnections lets the user manage connected services (Google, Notion, ...).
const IntentConnections Intent = "connections"

// HandoffRequest is the body of a handoff init call plus the end user's IP.
type HandoffRequest struct {
	// RedirectURI is where BlueNexus sends the browser back: an absolute
	// https URL, or a mobile deep link such as yourapp://connections.
	RedirectURI string
	// Intent scopes the white-label session. Required.
	Intent Intent
	// ClientIP is the end user's IP address, forwarded in the client's
	// client-IP header so the IP fingerprint matches the browser. The zero
	// value sends no header (BlueNexus then sees the caller's own address).
	ClientIP netip.Addr
}

// Handoff is a minted handoff code and the time it stops working.
type Handoff struct {
	Code Code
	// ExpiresAt is when the code stops working. It may already have passed
	// when BlueNexus said so (see [Client.InitHandoff]): compare it with the
	// time of use and mint again if too little is left.
	ExpiresAt time.Time
}

// Token is what [Client.Refresh] returns: a new access token and the new
// refresh token that replaces the one presented, which no longer works.
// Store RefreshToken before using AccessToken.
type Token struct {
	// AccessToken is the bearer token for handoff init and the Connections
	// API (about 15 minutes of life).
	AccessToken AccessToken
	// RefreshToken buys the next Token. Single use.
	RefreshToken RefreshToken
	// Expiry is when AccessToken stops working: the time the request was
	// sent plus expires_in, so never later than the truth.
	Expiry time.Time
	// RefreshExpiry is when RefreshToken stops working, counted the same
	// way from refresh_expires_in; zero when the response gave no positive
	// refresh_expires_in.
	RefreshExpiry time.Time
	// Scope is the space-separated scope list granted, as sent.
	Scope string
}

// Connection is one third-party service connected to a BlueNexus account.
type Connection struct {
	ID             string             `json:"id"`
	AccountID      string             `json:"accountId"`
	ProviderID     string             `json:"providerId"`
	ProviderUserID string             `json:"providerUserId"`
	Scopes         []string           `json:"scopes"`
	Status         ConnectionStatus   `json:"status"`
	ExpiresAt      *time.Time         `json:"expiresAt,omitempty"`
	CanRefresh     bool               `json:"canRefresh"`
	Metadata       ConnectionMetadata `json:"metadata"`
	CreatedAt      time.Time          `json:"createdAt"`
	UpdatedAt      time.Time          `json:"updatedAt"`
}

// ConnectionStatus is a connection's state.
type ConnectionStatus string

// The published connection states.
const (
	StatusActive  ConnectionStatus = "active"
	StatusExpired ConnectionStatus = "expired"
	StatusError   ConnectionStatus = "error"
	StatusRevoked ConnectionStatus = "revoked"
)

// ConnectionMetadata describes the provider account for display.
type ConnectionMetadata struct {
	DisplayName  string `json:"displayName,omitempty"`
	Email        string `json:"email,omitempty"`
	Avatar       string `json:"avatar,omitempty"`
	ProviderName string `json:"providerName,omitempty"`
	ProviderIcon string `json:"providerIcon,omitempty"`
}

// FieldError is one entry of a 400 response's errors list.
type FieldError struct {
	Field   string
	Message string
}
