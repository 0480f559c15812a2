package bluenexustest

import (
	"fmt"
	"strings"
	"time"
)

// TokenVariants make the token endpoint ([PathToken]) give answers that
// RFC 6749 allows but BlueNexus's published example does not show, so that
// an app can test its handling of them. The zero value is the published
// behaviour: rotation, expires_in, "Bearer", JSON errors, no grace.
// Variants combine; [WithTokenVariants] sets them at start,
// [Server.SetTokenVariants] at run time. docs/emulator.md has a table.
//
// *TokenVariants is a [flag.Value] whose syntax is the comma-separated
// names of the set variants: no-rotation, no-expires-in,
// lowercase-token-type, form-errors, invalid-client and
// reuse-grace:DURATION.
type TokenVariants struct {
	// NoRotation keeps the refresh token: answers omit refresh_token (and
	// refresh_expires_in), and the presented refresh token stays valid
	// until it expires (RFC 6749 section 6).
	NoRotation bool
	// NoExpiresIn omits expires_in (RFC 6749 section 5.1); access tokens
	// still expire after [WithTokenTTL].
	NoExpiresIn bool
	// LowercaseTokenType answers token_type "bearer" (RFC 6749 section
	// 5.1: case-insensitive).
	LowercaseTokenType bool
	// FormErrors sends the token endpoint's errors as
	// application/x-www-form-urlencoded error=...&error_description=...
	// instead of JSON.
	FormErrors bool
	// InvalidClient answers every refresh 400 invalid_client, as for a
	// misconfigured client, and spends no refresh token.
	InvalidClient bool
	// ReuseGrace, when positive, answers a refresh token presented again
	// within ReuseGrace of its rotation with the same answer as the first
	// time, instead of revoking the session as a replay.
	ReuseGrace time.Duration
}

// Names of the variants in the flag syntax.
const (
	variantNoRotation    = "no-rotation"
	variantNoExpiresIn   = "no-expires-in"
	variantLowercaseType = "lowercase-token-type"
	variantFormErrors    = "form-errors"
	variantInvalidClient = "invalid-client"
	variantReuseGrace    = "reuse-grace"
)

// String returns the set variants in the flag syntax, such as
// "no-rotation,reuse-grace:5s", or "" for none.
func (v TokenVariants) String() string {
	var names []string
	for _, f := range []struct {
		on   bool
		name string
	}{
		{v.NoRotation, variantNoRotation},
		{v.NoExpiresIn, variantNoExpiresIn},
		{v.LowercaseTokenType, variantLowercaseType},
		{v.FormErrors, variantFormErrors},
		{v.InvalidClient, variantInvalidClient},
	} {
		if f.on {
			names = append(names, f.name)
		}
	}
	if v.ReuseGrace > 0 {
		names = append(names, variantReuseGrace+":"+v.ReuseGrace.String())
	}
	return strings.Join(names, ",")
}

// Set adds the comma-separated variants of list to v (the flag syntax), or
// returns an error naming the first it does not know.
func (v *TokenVariants) Set(list string) error {
	next := *v
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		switch name {
		case "":
		case variantNoRotation:
			next.NoRotation = true
		case variantNoExpiresIn:
			next.NoExpiresIn = true
		case variantLowercaseType:
			next.LowercaseTokenType = true
		case variantFormErrors:
			next.FormErrors = true
		case variantInvalidClient:
			next.InvalidClient = true
		default:
			arg, ok := strings.CutPrefix(name, variantReuseGrace+":")
			if !ok {
				return fmt.Errorf("bluenexustest: token variant %q: want %s, %s, %s, %s, %s or %s:DURATION",
					name, variantNoRotation, variantNoExpiresIn, variantLowercaseType, variantFormErrors, variantInvalidClient, variantReuseGrace)
			}
			d, err := time.ParseDuration(arg)
			if err != nil || d <= 0 {
				return fmt.Errorf("bluenexustest: token variant %q: want a positive duration such as %s:5s", name, variantReuseGrace)
			}
			next.ReuseGrace = d
		}
	}
	*v = next
	return nil
}

// SetTokenVariants switches the token endpoint's variants for later
// requests, replacing those in force; [Server.Reset] restores those of
// [WithTokenVariants]. It panics on a negative ReuseGrace.
func (s *Server) SetTokenVariants(v TokenVariants) {
	if v.ReuseGrace < 0 {
		panic(fmt.Sprintf("bluenexustest: SetTokenVariants: negative ReuseGrace %v", v.ReuseGrace))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.variants = v
}

// tokenVariants returns the variants in force.
func (s *Server) tokenVariants() TokenVariants {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.variants
}
