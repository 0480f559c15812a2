// Package middleware holds [ClientIP], net/http middleware that derives the
// end user's IP address behind the app's trusted proxies, so that the kit can
// forward it to BlueNexus for its IP fingerprint.
//
// The operator picks exactly one [Strategy]. docs/client-ip.md is the guide:
// which strategy fits which deployment, what counts as an address, and what
// each error means; docs/SECURITY.md section A holds the rules.
package middleware
