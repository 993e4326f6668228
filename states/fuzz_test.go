package states_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/taskflow-go/taskflow/states"
)

// FuzzEncodeMatchesJSON checks the promise of encode.go: Marshal writes the
// states it encodes by hand byte for byte as encoding/json does, and fails
// where encoding/json fails.
func FuzzEncodeMatchesJSON(f *testing.F) {
	f.Add(uint8(0), "mail", "created", int64(1_900_000_000_123_456_789), int16(0), []byte(nil), int64(0), int64(0))
	f.Add(uint8(1), "host:1", "", int64(0), int16(120), []byte(nil), int64(0), int64(0))
	f.Add(uint8(2), "", "done <&>", int64(-62_135_596_800_000_000_0), int16(-330), []byte(`{"id":42}`), int64(3_000_000), int64(-1))
	f.Add(uint8(2), "", "é\"\\\n", int64(253_402_300_799_999_999_9), int16(59), []byte(`{ "a": "<b>" }`), int64(1), int64(1))
	f.Add(uint8(2), "", "", int64(42), int16(0), []byte(`{not json`), int64(0), int64(0))
	f.Fuzz(func(t *testing.T, kind uint8, s, reason string, nanos int64, offsetMin int16, result []byte, latency, duration int64) {
		at := time.Unix(0, 0).Add(time.Duration(nanos)).In(time.FixedZone("", int(offsetMin)%(24*60)*60))
		if nanos%7 == 0 {
			at = at.AddDate(int(offsetMin), 0, 0) // reach years outside 0..9999 too
		}
		var st states.State
		switch kind % 3 {
		case 0:
			st = states.Enqueued{Queue: s, EnqueuedAt: at, Reason: reason}
		case 1:
			st = states.Processing{StartedAt: at, ServerID: s, Reason: reason}
		default:
			st = states.Succeeded{SucceededAt: at, Result: result, Latency: time.Duration(latency), Duration: time.Duration(duration), Reason: reason}
		}
		want, wantErr := json.Marshal(st)
		got, err := states.Marshal(st)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("Marshal(%#v): error %v, encoding/json's %v", st, err, wantErr)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("Marshal(%#v)\n got %s\nwant %s", st, got, want)
		}
	})
}
