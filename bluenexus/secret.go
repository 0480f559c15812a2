package bluenexus

import "fmt"

const redacted = "[REDACTED]"

// The secret types below share four methods. Format covers every fmt verb,
// %#v included (fmt never calls GoString on a Formatter), and MarshalText
// covers encoding/json and zerolog's Interface and Any, which marshal with
// encoding/json. One case no method can cover: encoding/json writes a map
// key of string kind as the raw string, without calling MarshalText, so
// never use a secret as a map key in anything that is marshalled or logged.

// AccessToken is an end user's BlueNexus access token. It prints, formats and
// marshals (JSON, text, zerolog) as [REDACTED]; [AccessToken.Reveal] returns
// the value for the Authorization header.
type AccessToken string

// Reveal returns the token itself.
func (t AccessToken) Reveal() string { return string(t) }

// String returns [REDACTED].
func (t AccessToken) String() string { return redacted }

// Format prints [REDACTED] for every verb.
func (t AccessToken) Format(f fmt.State, _ rune) { f.Write([]byte(redacted)) }

// MarshalText returns [REDACTED].
func (t AccessToken) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// RefreshToken is an end user's BlueNexus refresh token: single use, it
// buys one new [Token] from [Client.Refresh]. It prints, formats and
// marshals as [REDACTED]; [RefreshToken.Reveal] returns the value for
// storage and the token call.
type RefreshToken string

// Reveal returns the token itself.
func (t RefreshToken) Reveal() string { return string(t) }

// String returns [REDACTED].
func (t RefreshToken) String() string { return redacted }

// Format prints [REDACTED] for every verb.
func (t RefreshToken) Format(f fmt.State, _ rune) { f.Write([]byte(redacted)) }

// MarshalText returns [REDACTED].
func (t RefreshToken) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Code is a one-time handoff code. It prints, formats and marshals as
// [REDACTED]; [Code.Reveal] returns the value for the white-label URL.
type Code string

// Reveal returns the code itself.
func (c Code) Reveal() string { return string(c) }

// String returns [REDACTED].
func (c Code) String() string { return redacted }

// Format prints [REDACTED] for every verb.
func (c Code) Format(f fmt.State, _ rune) { f.Write([]byte(redacted)) }

// MarshalText returns [REDACTED].
func (c Code) MarshalText() ([]byte, error) { return []byte(redacted), nil }
