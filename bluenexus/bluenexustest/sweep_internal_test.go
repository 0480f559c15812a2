package bluenexustest

import (
	"bytes"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestCodeSweepKeepsMemoryBounded: issued codes stay on record an hour past
// expiry and are then forgotten, at a constant cost per init; under
// sustained load no more than maxRetainedCodes expired ones are kept, and an
// unexpired code is never forgotten.
func TestCodeSweepKeepsMemoryBounded(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	s := NewServer(WithClock(clock), WithUser("alice"))
	defer s.Close()
	token := s.AddUser("alice")
	hc := &http.Client{}
	defer hc.CloseIdleConnections()
	initCode := func() {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, s.URL()+PathHandoffInit,
			bytes.NewReader([]byte(`{"redirectUri":"https://app.example.com/r","intent":"connections"}`)))
		req.Header.Set("Authorization", "Bearer "+token.Reveal())
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("init: status %d", resp.StatusCode)
		}
	}
	onRecord := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.codes) != len(s.issued) {
			t.Fatalf("%d codes but %d in the sweep queue", len(s.codes), len(s.issued))
		}
		return len(s.codes)
	}

	for range 3 {
		initCode()
	}
	advance(s.cfg.codeTTL + retainCodes) // exactly the retention: still kept
	initCode()
	if n := onRecord(); n != 4 {
		t.Fatalf("%d codes on record, want 4", n)
	}
	advance(time.Second)
	initCode()
	if n := onRecord(); n != 2 {
		t.Fatalf("%d codes on record after the retention, want 2", n)
	}

	// Over the cap, expired codes go oldest first; unexpired ones stay.
	advance(s.cfg.codeTTL)
	s.mu.Lock()
	for i := range maxRetainedCodes + 10 {
		c := "seed" + strconv.Itoa(i)
		s.codes[c] = &handoff{expiresAt: now.Add(-time.Second)}
		s.issued = append(s.issued, issuedCode{code: c, expiresAt: now.Add(-time.Second)})
	}
	s.mu.Unlock()
	initCode()
	if n := onRecord(); n != maxRetainedCodes+1 {
		t.Fatalf("%d codes on record over the cap, want %d (the cap, then the new code)", n, maxRetainedCodes+1)
	}
	s.mu.Lock()
	live := 0
	for _, h := range s.codes {
		if now.Before(h.expiresAt) {
			live++
		}
	}
	s.mu.Unlock()
	if live != 1 {
		t.Errorf("%d unexpired codes on record, want the 1 just issued", live)
	}
}
