// Package bnwire holds the BlueNexus wire format that both the client
// (bluenexus) and its emulator (bluenexus/bluenexustest) speak.
package bnwire

// API paths, relative to the API base URL (docs/BLUENEXUS.md sections 1, 4
// and 6).
const (
	PathHandoffInit = "/api/v1/auth/handoff/init" // POST
	PathConnections = "/api/v1/connections"       // GET; + "/{id}" GET; + "/{id}/refresh" PUT
	PathToken       = "/api/v1/auth/token"        // POST, grant_type=refresh_token
)

// ClientCriteriaMessage is the text BlueNexus sends when it cannot
// fingerprint the caller of handoff init, whatever the status.
const ClientCriteriaMessage = "Unable to determine client criterias for secure handoff"

// ErrorBody is BlueNexus's error document, {"error", "message",
// "statusCode", "errors"?}, or OAuth's {"error", "error_description"}.
type ErrorBody struct {
	Error            string       `json:"error"`
	Message          string       `json:"message"`
	ErrorDescription string       `json:"error_description,omitempty"`
	StatusCode       int          `json:"statusCode"`
	Errors           []FieldError `json:"errors,omitempty"`
}

// FieldError is one entry of a 400 response's "errors" list.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
	Value   any    `json:"value,omitempty"`
}
