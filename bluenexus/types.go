package bluenexus

import (
	"encoding/json"
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
	Code      Code
	ExpiresAt time.Time
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

// Pagination describes one page of a list. BlueNexus publishes two shapes,
// {page, limit, total, hasMore} and {page, limit, total, pages, hasNext,
// hasPrev}; both decode into this struct, and [Pagination.More] reads either.
type Pagination struct {
	Page    int   `json:"page"`
	Limit   int   `json:"limit"`
	Total   int   `json:"total"`
	Pages   int   `json:"pages,omitempty"`
	HasMore *bool `json:"hasMore,omitempty"`
	HasNext *bool `json:"hasNext,omitempty"`
	HasPrev *bool `json:"hasPrev,omitempty"`
}

// More reports whether a page follows this one, from whichever shape was sent.
func (p Pagination) More() bool {
	switch {
	case p.HasMore != nil:
		return *p.HasMore
	case p.HasNext != nil:
		return *p.HasNext
	case p.Pages > 0:
		return p.Page < p.Pages
	default:
		return p.Limit > 0 && p.Page*p.Limit < p.Total
	}
}

// ConnectionPage is one page of the connections list.
type ConnectionPage struct {
	Data       []Connection `json:"data"`
	Pagination Pagination   `json:"pagination"`
}

// ErrorBody is the error document BlueNexus returns across its API:
// {"error": "TooManyRequestsError", "message": "Rate limit exceeded", "statusCode": 429}.
type ErrorBody struct {
	Error      string          `json:"error"`
	Message    string          `json:"message"`
	StatusCode int             `json:"statusCode"`
	Details    json.RawMessage `json:"details,omitempty"`
	Errors     []FieldError    `json:"errors,omitempty"`
}

// FieldError is one entry of a 400 response's errors list.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
	Value   any    `json:"value,omitempty"`
}

// Published API paths, relative to the API base URL.
const (
	PathHandoffInit = "/api/v1/auth/handoff/init"
	PathConnections = "/api/v1/connections"
)

// ClientCriteriaMessage is the text BlueNexus sends when it cannot
// fingerprint the caller of handoff init.
const ClientCriteriaMessage = "Unable to determine client criterias for secure handoff"
