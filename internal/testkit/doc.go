// Package testkit holds small helpers shared by the module's tests: a
// settable fake clock, a cookie-carrying browser for direct handler calls,
// and a buffer safe for concurrent writers.
//
// It depends only on the standard library, so any package's tests can use
// it without an import cycle.
package testkit
