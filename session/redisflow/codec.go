package redisflow

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"slices"
)

// serializer is the store codecs' serializer. It writes two kinds of
// values: the session id carried by the cookie (a string, as its bytes), and
// the session values kept in Redis.
//
// Session values whose keys are all strings and whose values are all
// strings or byte slices, which is all the session.Manager stores (one
// string), are written in a compact format of this package:
//
//	'c' { uvarint(len(key)) key kind uvarint(len(value)) value }
//
// with entries sorted by key and kind 's' (string) or 'b' ([]byte). Any
// other values are written as 'g' followed by their encoding/gob form, which
// needs their types registered with gob.Register, as for gorilla's own
// stores.
type serializer struct{}

const (
	formatCompact = 'c'
	formatGob     = 'g'
	kindString    = 's'
	kindBytes     = 'b'
)

var (
	errSerialize   = errors.New("redisflow: store: cannot serialize this value")
	errDeserialize = errors.New("redisflow: store: malformed record")
)

// Serialize implements securecookie.Serializer.
func (serializer) Serialize(src any) ([]byte, error) {
	switch v := src.(type) {
	case string:
		return []byte(v), nil
	case map[any]any:
		if b, ok := encodeCompact(v); ok {
			return b, nil
		}
		var buf bytes.Buffer
		buf.WriteByte(formatGob)
		if err := gob.NewEncoder(&buf).Encode(v); err != nil {
			return nil, errors.Join(errSerialize, err)
		}
		return buf.Bytes(), nil
	}
	return nil, errSerialize
}

// Deserialize implements securecookie.Serializer.
func (serializer) Deserialize(src []byte, dst any) error {
	switch d := dst.(type) {
	case *string:
		*d = string(src)
		return nil
	case *map[any]any:
		values := make(map[any]any)
		if len(src) == 0 {
			return errDeserialize
		}
		switch src[0] {
		case formatCompact:
			if !decodeCompact(src[1:], values) {
				return errDeserialize
			}
		case formatGob:
			if err := gob.NewDecoder(bytes.NewReader(src[1:])).Decode(&values); err != nil {
				return errors.Join(errDeserialize, err)
			}
		default:
			return errDeserialize
		}
		*d = values
		return nil
	}
	return errDeserialize
}

func encodeCompact(values map[any]any) ([]byte, bool) {
	keys := make([]string, 0, len(values))
	n := 1
	for k, v := range values {
		ks, ok := k.(string)
		if !ok {
			return nil, false
		}
		switch x := v.(type) {
		case string:
			n += len(x)
		case []byte:
			n += len(x)
		default:
			return nil, false
		}
		keys = append(keys, ks)
		n += len(ks) + 1 + 2*binary.MaxVarintLen64
	}
	slices.Sort(keys)
	b := make([]byte, 1, n)
	b[0] = formatCompact
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		switch x := values[k].(type) {
		case string:
			b = append(b, kindString)
			b = binary.AppendUvarint(b, uint64(len(x)))
			b = append(b, x...)
		case []byte:
			b = append(b, kindBytes)
			b = binary.AppendUvarint(b, uint64(len(x)))
			b = append(b, x...)
		}
	}
	return b, true
}

// decodeCompact reads entries into values. Keys must be in strictly
// increasing order, so every set of values has exactly one encoding.
func decodeCompact(b []byte, values map[any]any) bool {
	prev, first := "", true
	for len(b) > 0 {
		k, rest, ok := readChunk(b)
		if !ok || len(rest) == 0 || (!first && k <= prev) {
			return false
		}
		kind := rest[0]
		v, rest, ok := readChunk(rest[1:])
		if !ok {
			return false
		}
		switch kind {
		case kindString:
			values[k] = v
		case kindBytes:
			values[k] = []byte(v)
		default:
			return false
		}
		prev, first, b = k, false, rest
	}
	return true
}

// readChunk reads a uvarint length, in its shortest form, and that many
// bytes.
func readChunk(b []byte) (string, []byte, bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) || w != uvarintLen(n) {
		return "", nil, false
	}
	end := w + int(n)
	return string(b[w:end]), b[end:], true
}

func uvarintLen(n uint64) int {
	l := 1
	for ; n >= 0x80; n >>= 7 {
		l++
	}
	return l
}
