package pgstore

import (
	"bytes"
	"encoding/json"
)

// decodeParams decodes a job's params column. PostgreSQL prints jsonb
// valid and in one shape, so the top level of an object is split here
// without encoding/json, whose validation and reflection cost more than
// the rest of reading a job; anything else goes to encoding/json.
func decodeParams(b []byte) (map[string]json.RawMessage, error) {
	if m, ok := splitObject(b); ok {
		return m, nil
	}
	var m map[string]json.RawMessage
	err := json.Unmarshal(b, &m)
	return m, err
}

// splitObject splits a JSON object known to be valid into its members. It
// returns false for what it does not handle: not an object, or a key with
// an escape.
func splitObject(b []byte) (map[string]json.RawMessage, bool) {
	b = bytes.TrimSpace(b)
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return nil, false
	}
	body := bytes.TrimSpace(b[1 : len(b)-1])
	m := make(map[string]json.RawMessage, 2)
	for len(body) > 0 {
		if body[0] != '"' {
			return nil, false
		}
		end := bytes.IndexByte(body[1:], '"') + 1
		if end <= 0 || bytes.IndexByte(body[1:end], '\\') >= 0 {
			return nil, false
		}
		key := string(body[1:end])
		rest := bytes.TrimLeft(body[end+1:], " ")
		if len(rest) == 0 || rest[0] != ':' {
			return nil, false
		}
		rest = bytes.TrimLeft(rest[1:], " ")
		n := valueLen(rest)
		if n == 0 {
			return nil, false
		}
		m[key] = json.RawMessage(bytes.TrimRight(rest[:n], " "))
		body = rest[n:]
		if len(body) > 0 { // a comma, then the next member
			body = bytes.TrimLeft(body[1:], " ")
		}
	}
	return m, true
}

// valueLen returns the length of the JSON value that starts b: up to the
// first comma outside strings, arrays and objects, or the end.
func valueLen(b []byte) int {
	depth, inString := 0, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
		case c == ',' && depth == 0:
			return i
		}
	}
	return len(b)
}
