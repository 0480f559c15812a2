package flow

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/handoffkit/handoffkit/internal/limits"
)

// Flow is one handoff flow: what [Manager.Begin] started and what
// [Manager.Finish] hands back when the browser returns.
type Flow struct {
	// State binds the return to this browser. It redacts when printed.
	State State
	// Intent is the handoff intent the flow was started for.
	Intent string
	// Next is the local page to show after the return, if any. The session
	// stores it as given; check it with urlbuild.CheckNext before use.
	Next string
	// ReturnURI is the redirectUri the flow was started with, if the caller
	// recorded one.
	ReturnURI string
	// IssuedAt is when Begin ran, by the Manager's clock, to the millisecond.
	IssuedAt time.Time
	// ExpiresAt is IssuedAt plus the Manager's TTL.
	ExpiresAt time.Time
}

// Limits on [Params] fields, which must also be printable ASCII without
// spaces. They keep a full set of flows well inside the 4096-byte cookie
// limit (SECURITY.md C4); they are the limits urlbuild checks (internal/limits).
const (
	MaxIntentLength    = limits.Intent
	MaxNextLength      = limits.Next
	MaxReturnURILength = limits.ReturnURI
)

// Params is what a flow remembers until the return.
type Params struct {
	// Intent is the handoff intent, e.g. "connections". At most
	// [MaxIntentLength] bytes.
	Intent string
	// Next is the local page to show after the return, already checked with
	// urlbuild.CheckNext. At most [MaxNextLength] bytes. Optional.
	Next string
	// ReturnURI is the redirectUri used for this flow, when it varies (for
	// example a mobile deep link picked from an allowlist). At most
	// [MaxReturnURILength] bytes. Optional.
	ReturnURI string
}

// Validate reports why p cannot be stored in a flow, wrapping
// [ErrInvalidParams], or nil.
func (p Params) Validate() error {
	for _, f := range [...]struct {
		name, v string
		max     int
	}{{"Intent", p.Intent, MaxIntentLength}, {"Next", p.Next, MaxNextLength}, {"ReturnURI", p.ReturnURI, MaxReturnURILength}} {
		if len(f.v) > f.max {
			return fmt.Errorf("%w: %s longer than %d bytes", ErrInvalidParams, f.name, f.max)
		}
		if !visibleASCII(f.v) {
			return fmt.Errorf("%w: %s has bytes other than printable ASCII without spaces", ErrInvalidParams, f.name)
		}
	}
	return nil
}

func visibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// The cookie holds all flows of a browser as one string value, in a compact
// line format written and read here (not a gob of structs):
//
//	1
//	f <state> <issued unix ms> <intent> <next> <return URI>
//	s <tag> <expires unix ms>
//
// The first line is the format version. Each "f" line is a pending flow,
// oldest first; each "s" line remembers a superseded one by its tag. Fields
// are printable ASCII without spaces (Params.validate), so a space separates
// them and an empty field is two spaces in a row. The value is a string so
// that any store's serializer (gob, JSON) round-trips it.
const (
	valueKey      = "f"
	formatVersion = "1"
	// maxPayload bounds the encoded value. Through gob, AES-CTR, HMAC and two
	// base64 passes it becomes a cookie of about 3400 bytes at most.
	maxPayload = 1800
	// maxLines bounds the work of parsing a value.
	maxLines = 2 * MaxFlowsLimit
)

// record is a pending flow as stored.
type record struct {
	state     string
	issued    int64 // unix milliseconds
	intent    string
	next      string
	returnURI string
}

// superseded remembers a flow that newer ones pushed out.
type superseded struct {
	tag     string // supersededTag of the state
	expires int64  // unix milliseconds
}

// flowSet is the decoded cookie value.
type flowSet struct {
	records []record     // oldest first
	dropped []superseded // oldest first
}

func (fs *flowSet) empty() bool { return len(fs.records) == 0 && len(fs.dropped) == 0 }

func (r *record) flow(ttl time.Duration) Flow {
	issued := time.UnixMilli(r.issued).UTC()
	return Flow{
		State:     State(r.state),
		Intent:    r.intent,
		Next:      r.next,
		ReturnURI: r.returnURI,
		IssuedAt:  issued,
		ExpiresAt: issued.Add(ttl),
	}
}

func (r *record) size() int {
	return 3 + len(r.state) + 1 + digits(r.issued) + 1 + len(r.intent) + 1 + len(r.next) + 1 + len(r.returnURI)
}

func (s *superseded) size() int { return 3 + len(s.tag) + 1 + digits(s.expires) }

func (fs *flowSet) size() int {
	n := len(formatVersion)
	for i := range fs.records {
		n += fs.records[i].size()
	}
	for i := range fs.dropped {
		n += fs.dropped[i].size()
	}
	return n
}

func digits(v int64) int {
	n := 1
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}

// encode writes the value format.
func (fs *flowSet) encode() string {
	var b strings.Builder
	b.Grow(fs.size())
	b.WriteString(formatVersion)
	var num [20]byte
	for i := range fs.records {
		r := &fs.records[i]
		b.WriteString("\nf ")
		b.WriteString(r.state)
		b.WriteByte(' ')
		b.Write(strconv.AppendInt(num[:0], r.issued, 10))
		b.WriteByte(' ')
		b.WriteString(r.intent)
		b.WriteByte(' ')
		b.WriteString(r.next)
		b.WriteByte(' ')
		b.WriteString(r.returnURI)
	}
	for i := range fs.dropped {
		s := &fs.dropped[i]
		b.WriteString("\ns ")
		b.WriteString(s.tag)
		b.WriteByte(' ')
		b.Write(strconv.AppendInt(num[:0], s.expires, 10))
	}
	return b.String()
}

// parseFlowSet reads the value format. Anything unexpected makes the whole
// value invalid: the cookie is authenticated, so a bad value means a bug or a
// foreign writer, and is treated as no flow.
func parseFlowSet(v string) (flowSet, bool) {
	rest, ok := strings.CutPrefix(v, formatVersion)
	if !ok || len(v) > 2*maxPayload {
		return flowSet{}, false
	}
	lines := strings.Count(rest, "\n")
	if lines > maxLines {
		return flowSet{}, false
	}
	fs := flowSet{records: make([]record, 0, lines)}
	for rest != "" {
		if rest[0] != '\n' {
			return flowSet{}, false
		}
		line := rest[1:]
		if i := strings.IndexByte(line, '\n'); i >= 0 {
			line, rest = line[:i], line[i:]
		} else {
			rest = ""
		}
		kind, fields, _ := strings.Cut(line, " ")
		switch kind {
		case "f":
			r, ok := parseRecord(fields)
			if !ok {
				return flowSet{}, false
			}
			fs.records = append(fs.records, r)
		case "s":
			tag, exp, _ := strings.Cut(fields, " ")
			expires, ok := parseMillis(exp)
			if len(tag) != tagLength || !isLowerHex(tag) || !ok {
				return flowSet{}, false
			}
			fs.dropped = append(fs.dropped, superseded{tag: tag, expires: expires})
		default:
			return flowSet{}, false
		}
	}
	return fs, true
}

func parseRecord(fields string) (record, bool) {
	var f [5]string
	rest := fields
	for i := range 4 {
		var ok bool
		if f[i], rest, ok = strings.Cut(rest, " "); !ok {
			return record{}, false
		}
	}
	f[4] = rest
	issued, ok := parseMillis(f[1])
	r := record{state: f[0], issued: issued, intent: f[2], next: f[3], returnURI: f[4]}
	if !ok || !wellFormedState(r.state) ||
		(Params{Intent: r.intent, Next: r.next, ReturnURI: r.returnURI}).Validate() != nil {
		return record{}, false
	}
	return r, true
}

// parseMillis reads a positive decimal time without sign or leading zeros,
// so that every value has one spelling.
func parseMillis(s string) (int64, bool) {
	if s == "" || len(s) > 18 || s[0] == '0' {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// find returns the index of the record whose state equals state, comparing
// against every record in constant time, or -1.
func (fs *flowSet) find(state string) int {
	idx := -1
	for i := range fs.records {
		if equal(fs.records[i].state, state) {
			idx = i
		}
	}
	return idx
}

// findTag returns the index of the superseded entry with tag, or -1.
func (fs *flowSet) findTag(tag string) int {
	idx := -1
	for i := range fs.dropped {
		if equal(fs.dropped[i].tag, tag) {
			idx = i
		}
	}
	return idx
}

// prune removes expired records and superseded entries at nowMs and reports
// whether it removed any.
func (fs *flowSet) prune(nowMs, ttlMs int64) bool {
	n, m := len(fs.records), len(fs.dropped)
	fs.records = slices.DeleteFunc(fs.records, func(r record) bool { return nowMs >= r.issued+ttlMs })
	fs.dropped = slices.DeleteFunc(fs.dropped, func(s superseded) bool { return nowMs >= s.expires })
	return len(fs.records) != n || len(fs.dropped) != m
}

// fit pushes out the oldest records beyond maxFlows, remembering them as
// superseded (at most maxFlows of those), then shrinks the set until it
// encodes within maxPayload: older records become superseded entries first,
// then the oldest superseded entries are forgotten. The newest record stays.
func (fs *flowSet) fit(maxFlows int, ttlMs int64) {
	for len(fs.records) > maxFlows {
		fs.supersedeOldest(ttlMs)
	}
	if extra := len(fs.dropped) - maxFlows; extra > 0 {
		fs.dropped = append(fs.dropped[:0], fs.dropped[extra:]...)
	}
	for fs.size() > maxPayload {
		if len(fs.records) > 1 {
			fs.supersedeOldest(ttlMs)
		} else if len(fs.dropped) > 0 {
			fs.dropped = append(fs.dropped[:0], fs.dropped[1:]...)
		} else {
			return // one record within the Params limits always fits
		}
	}
}

func (fs *flowSet) supersedeOldest(ttlMs int64) {
	old := fs.records[0]
	fs.records = append(fs.records[:0], fs.records[1:]...)
	fs.dropped = append(fs.dropped, superseded{tag: supersededTag(old.state), expires: old.issued + ttlMs})
}
