package bluenexustest

import (
	"net/http"
	"net/netip"
)

// WithClientIPHeaderNotHonoured makes handoff init behave as BlueNexus does
// for a client whose forwarded-IP header it does not honour: the init caller
// is fingerprinted by its TCP peer, and an init whose client-IP header
// ([WithClientIPHeader]) names another address is refused with the
// client-criteria error ("Unable to determine client criterias for secure
// handoff"), as the guide warns for a server that calls init from an IP
// other than its user's. BlueNexus does not publish this behaviour; the
// emulator offers it so that apps and handoff-doctor can be tested against
// it. Default: the header is honoured.
func WithClientIPHeaderNotHonoured() Option {
	return func(c *config) { c.ipHeaderNotHonoured = true }
}

// peerOnlyIP is the fingerprint IP of an init under
// WithClientIPHeaderNotHonoured: the TCP peer, and no IP at all when the
// client-IP header names another address.
func (s *Server) peerOnlyIP(r *http.Request) (ip netip.Addr, ok bool) {
	peer, ok := peerIP(r)
	if !ok {
		return peer, false
	}
	if fwd, ok := headerOrPeerIP(r, s.cfg.clientIPHeader); !ok || fwd != peer {
		return netip.Addr{}, false
	}
	return peer, true
}
