package pgstore

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzSplitParams checks the hand-written split of a params column against
// encoding/json: for valid JSON (what PostgreSQL prints), decodeParams
// yields the members encoding/json yields, each value the same JSON.
func FuzzSplitParams(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"a": 1, "b": "x,y", "c": {"d": [1, 2, {"e": "}"}]}}`))
	f.Add([]byte(`{"taskflow.recurring_id": "nightly", "taskflow.recurring_at": "2026-12-06T10:00:00Z"}`))
	f.Add([]byte(`{"k\"q": "v", "a": "\\", "b": "\""}`))
	f.Add([]byte(`{"a":1,"a":2}`))
	f.Add([]byte("{\n\t\"a\" :\n1 }"))
	f.Add([]byte(`[1, 2]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) || !utf8.Valid(b) {
			return // PostgreSQL prints valid jsonb as UTF-8
		}
		var want map[string]json.RawMessage
		wantErr := json.Unmarshal(b, &want)
		got, err := decodeParams(b)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("decodeParams(%q): error %v, encoding/json's %v", b, err, wantErr)
		}
		if len(got) != len(want) {
			t.Fatalf("decodeParams(%q) = %q, encoding/json's %q", b, got, want)
		}
		for k, w := range want {
			var gc, wc bytes.Buffer
			if err := json.Compact(&gc, got[k]); err != nil {
				t.Fatalf("decodeParams(%q): member %q = %q, not JSON: %v", b, k, got[k], err)
			}
			_ = json.Compact(&wc, w)
			if !bytes.Equal(gc.Bytes(), wc.Bytes()) {
				t.Fatalf("decodeParams(%q): member %q = %s, encoding/json's %s", b, k, got[k], w)
			}
		}
	})
}
