package redisstore

import (
	"bytes"
	"testing"
	"time"
)

// FuzzCodecRoundTrip checks that what the codec stores reads back as it
// was written: state data of any bytes, and history times from before 1970
// to far ahead, to the microsecond.
func FuzzCodecRoundTrip(f *testing.F) {
	f.Add([]byte(`{"queue":"mail","enqueued_at":"2026-12-06T10:00:00Z","reason":"created"}`), int64(1_765_000_000_000_000))
	f.Add([]byte(`{"succeeded_at":"2026-12-06T10:00:00Z","result":{"a":"\u0001"},"latency":1,"duration":2}`), int64(0))
	f.Add([]byte("\x1e\x01raw"), int64(-1))
	f.Add([]byte("a\x1fb\tc\n"), int64(-62_135_596_800_000_000))
	f.Add([]byte(`","reason":","reason":{"queue":`), int64(1<<62))
	f.Fuzz(func(t *testing.T, data []byte, micros int64) {
		if got := unpackData(packData(data)); !bytes.Equal(got, data) {
			t.Fatalf("unpackData(packData(%q)) = %q", data, got)
		}
		at := time.UnixMicro(micros).UTC()
		if y := at.Year(); y < 1 || y > 9999 {
			return // beyond what the store writes
		}
		if got := timeOfEntry(entryTime(at)); !got.Equal(at) {
			t.Fatalf("timeOfEntry(entryTime(%v)) = %v (encoded %q)", at, got, entryTime(at))
		}
	})
}
