// Package middleware holds the kit's net/http middleware: [ClientIP], which
// derives the end user's IP address behind the app's trusted proxies so that
// it can be forwarded to BlueNexus for its IP fingerprint. For access logs
// use zerolog's hlog.AccessHandler and log r.URL.Path, never the query
// string or headers (see the example).
//
// # Choosing a client-IP strategy
//
// The operator picks exactly one [Strategy] at construction; none is a
// default and strategies are never chained (SECURITY.md A1):
//
//   - [RemoteAddrStrategy]: the server is directly exposed; the TCP peer is
//     the client. Never reads a header.
//   - [NewSingleIPHeaderStrategy]: one proxy writes the client IP into a
//     header of its own (X-Real-IP, CF-Connecting-IP), read only from
//     trusted peers.
//   - [NewXFFTrustedRangesStrategy]: X-Forwarded-For, rightmost entry that
//     is not a trusted proxy, read only from trusted peers.
//   - [NewXFFTrustedCountStrategy]: X-Forwarded-For, a fixed number of
//     proxies whose addresses are unknown (the network must keep everyone
//     else out).
//   - [NewForwardedStrategy]: RFC 7239 Forwarded, for= parameter, with
//     trusted ranges.
//
// docs/client-ip.md in the repository is the operator guide: deployments,
// port rules, differences from chi, and what breaks BlueNexus's fingerprint.
//
// # Entry rules
//
// Every address taken from a header must be exactly one IP (SECURITY.md A4).
// Rejected: empty entries, hostnames, "unknown", "_obfuscated" identifiers,
// leading-zero IPv4 ("010.001.002.003"), integer IPv4 ("3627734734"),
// 0.0.0.0 and :: in any notation. Ports: never in X-Forwarded-For or a
// single-IP header (neither "1.2.3.4:80" nor "[2001:db8::1]:443"); allowed
// in Forwarded as RFC 7239 defines them, and ignored; r.RemoteAddr is
// "ip:port" (a bare IP is accepted too). Results are normalised (A5):
// IPv4-mapped IPv6 becomes IPv4, zones are dropped, and [netip.Addr.String]
// gives the canonical text. Trust checks use the normalised address, so
// "::ffff:10.0.0.5" is trusted when 10.0.0.0/8 is.
//
// A bad entry met from the right before the client, a chain of only trusted
// entries, an untrusted TCP peer or a missing header all mean no IP: an
// error wrapping [ErrNoClientIP], never a fallback to another entry or
// header (A4, A6). Parsing is linear in the header size, allocates nothing
// for a well-formed header, and is fuzzed (A9).
//
// # Reading the result
//
// [ClientIP] stores the outcome in the request context and never rewrites
// r.RemoteAddr, r.Host or the scheme (A7). [GetClientIP] returns the address
// and whether there is one; [ClientIPError] returns why there is not.
package middleware
