package flow

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestStateIs256BitBase64URL_B1(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		st, err := NewState()
		s := string(st)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.RawURLEncoding.Strict().DecodeString(s)
		if err != nil || len(raw) != 32 || len(s) != StateLength || !wellFormedState(s) {
			t.Fatalf("state %q: %d bytes, %v", s, len(raw), err)
		}
		if seen[s] {
			t.Fatalf("state repeated: %q", s)
		}
		seen[s] = true
	}
}

func TestStateRedacts_D2(t *testing.T) {
	const secret = "c2VjcmV0LXN0YXRlLXZhbHVlLXNob3VsZC1uZXZlci1wcmludA"
	s := State(secret)
	f := Flow{State: s, Intent: "connections", Next: "/x"}
	outputs := []string{
		s.String(), s.GoString(),
		fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q %x %d", s, s, s, s, s, s, s),
		fmt.Sprint(f), fmt.Sprintf("%+v %#v", f, f),
	}
	for _, v := range []any{s, f, map[string]any{"state": s}} {
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		outputs = append(outputs, string(j))
	}
	txt, _ := s.MarshalText()
	outputs = append(outputs, string(txt))
	for _, out := range outputs {
		if strings.Contains(out, secret) || strings.Contains(out, "c2VjcmV0") || strings.Contains(out, fmt.Sprintf("%x", secret)[:16]) {
			t.Fatalf("state leaked: %s", out)
		}
		if !strings.Contains(out, redacted) {
			t.Fatalf("output %q lacks %s", out, redacted)
		}
	}
	if s.Reveal() != secret {
		t.Fatal("Reveal does not return the value")
	}
}
