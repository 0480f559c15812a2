package bluenexus

import "fmt"

const redacted = "[REDACTED]"

// AccessToken is an end user's BlueNexus access token. It prints, formats and
// marshals (JSON, text, zerolog) as [REDACTED]; [AccessToken.Reveal] returns
// the value for the Authorization header.
type AccessToken string

// Reveal returns the token itself.
func (t AccessToken) Reveal() string { return string(t) }

// String returns [REDACTED].
func (t AccessToken) String() string { return redacted }

// GoString returns [REDACTED].
func (t AccessToken) GoString() string { return redacted }

// Format prints [REDACTED] for every verb.
func (t AccessToken) Format(f fmt.State, _ rune) { f.Write([]byte(redacted)) }

// MarshalText returns [REDACTED].
func (t AccessToken) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// MarshalJSON returns "[REDACTED]".
func (t AccessToken) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// Code is a one-time handoff code. It prints, formats and marshals as
// [REDACTED]; [Code.Reveal] returns the value for the white-label URL.
type Code string

// Reveal returns the code itself.
func (c Code) Reveal() string { return string(c) }

// String returns [REDACTED].
func (c Code) String() string { return redacted }

// GoString returns [REDACTED].
func (c Code) GoString() string { return redacted }

// Format prints [REDACTED] for every verb.
func (c Code) Format(f fmt.State, _ rune) { f.Write([]byte(redacted)) }

// MarshalText returns [REDACTED].
func (c Code) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// MarshalJSON returns "[REDACTED]".
func (c Code) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
