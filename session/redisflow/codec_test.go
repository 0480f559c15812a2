package redisflow

import (
	"bytes"
	"reflect"
	"testing"
)

func TestSerializerRoundTrips(t *testing.T) {
	tests := []struct {
		name    string
		values  map[any]any
		compact bool
	}{
		{"empty", map[any]any{}, true},
		{"the Manager's one string", map[any]any{"f": "1\nf state 1700000000000 connections /next "}, true},
		{"strings and bytes", map[any]any{"b": []byte{0, 1, 2}, "a": "", "c": "x"}, true},
		{"other types through gob", map[any]any{"n": 42, "s": "text"}, false},
		{"non-string key through gob", map[any]any{7: "seven"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := serializer{}.Serialize(tc.values)
			if err != nil {
				t.Fatal(err)
			}
			if got := b[0] == formatCompact; got != tc.compact {
				t.Fatalf("format %q, want compact=%v", b[0], tc.compact)
			}
			var back map[any]any
			if err := (serializer{}).Deserialize(b, &back); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, tc.values) {
				t.Fatalf("round trip: %#v, want %#v", back, tc.values)
			}
		})
	}
}

func TestSerializerRefusesMalformedRecords(t *testing.T) {
	for _, src := range [][]byte{
		nil,
		[]byte("x"),
		[]byte("c\x01"),                 // key length past the end
		[]byte("c\x01a"),                // no kind
		[]byte("c\x01aq\x00"),           // unknown kind
		[]byte("c\x01as\x05abc"),        // value length past the end
		[]byte("c\x01bs\x00\x01as\x00"), // keys out of order
		[]byte("c\x01as\x00\x01as\x00"), // duplicated key
		[]byte("g\xff\xff"),
	} {
		var dst map[any]any
		if err := (serializer{}).Deserialize(src, &dst); err == nil {
			t.Errorf("Deserialize(%q) accepted", src)
		}
	}
	if _, err := (serializer{}).Serialize(42); err == nil {
		t.Error("Serialize(42) accepted")
	}
}

// FuzzCompactFormat: decoding never panics, and what decodes encodes back
// to the same bytes (one encoding per set of values).
func FuzzCompactFormat(f *testing.F) {
	for _, seed := range []map[any]any{{}, {"f": "value"}, {"a": []byte("x"), "b": "y"}} {
		b, _ := encodeCompact(seed)
		f.Add(b[1:])
	}
	f.Add([]byte("\x01as\x00\x01as\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		values := map[any]any{}
		if !decodeCompact(b, values) {
			return
		}
		again, ok := encodeCompact(values)
		if !ok || !bytes.Equal(again[1:], b) {
			t.Fatalf("decode(%q) encodes back to %q", b, again)
		}
	})
}
