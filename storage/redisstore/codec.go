package redisstore

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/taskflow-go/taskflow/states"
)

// State data is stored with the key names and separators of taskflow's
// states replaced by single control bytes, which JSON never holds raw: a
// job's history then takes fewer bytes and fewer 64-byte pieces. Data that
// holds such a byte anyway is stored as is behind rawMark. Scripts never
// look inside state data; they only join pieces that packData made (the
// Enqueued state they write is built from packed parts and JSON strings).
var dataTokens = []string{
	`{"queue":`, `,"enqueued_at":"`, `","reason":`, `,"reason":`,
	`{"started_at":"`, `","server_id":"`,
	`{"succeeded_at":"`, `","result":`, `,"latency":`, `,"duration":`,
	`{"enqueue_at":"`, `","scheduled_at":"`,
	`{"failed_at":"`, `","error_type":"`, `","error_message":"`, `","error_details":"`,
	`{"deleted_at":"`, `{"parent_id":"`, `","on":"`,
}

// luaDataTokens returns the Lua source that defines UNPACKED, the table of
// the data tokens by the byte that stands for each, for lua/lib.lua
// (unpackData), which reads the result of a Succeeded state.
func luaDataTokens() string {
	var b strings.Builder
	b.WriteString("local UNPACKED = {")
	for i, c := range tokenBytes()[:len(dataTokens)] {
		fmt.Fprintf(&b, "[%d] = %s, ", c, strconv.Quote(dataTokens[i]))
	}
	b.WriteString("}\n")
	return b.String()
}

// rawMark starts data stored as is; sep (0x1f) separates the parts of a
// history entry.
const rawMark = "\x1e"

var packer, unpacker = dataReplacers()

// tokenBytes are the bytes that stand for dataTokens: control bytes but
// the JSON whitespace (\t, \n, \r), rawMark and sep.
func tokenBytes() []byte {
	var out []byte
	for b := byte(1); b < 0x1e; b++ {
		if b != '\t' && b != '\n' && b != '\r' {
			out = append(out, b)
		}
	}
	return out
}

func dataReplacers() (*strings.Replacer, *strings.Replacer) {
	codes := tokenBytes()
	if len(dataTokens) > len(codes) {
		panic("redisstore: more data tokens than control bytes")
	}
	var pack, unpack []string
	for i, tok := range dataTokens {
		pack = append(pack, tok, string(codes[i]))
		unpack = append(unpack, string(codes[i]), tok)
	}
	return strings.NewReplacer(pack...), strings.NewReplacer(unpack...)
}

// needsRaw reports whether data holds a byte that packed data gives a
// meaning to.
func needsRaw(data string) bool {
	for i := 0; i < len(data); i++ {
		if c := data[i]; c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			return true
		}
	}
	return false
}

// packData returns how data is stored (see dataTokens).
func packData(data []byte) string {
	s := string(data)
	if needsRaw(s) {
		return rawMark + s
	}
	return packer.Replace(s)
}

// unpackData returns the data that packData stored as s.
func unpackData(s string) []byte {
	if strings.HasPrefix(s, rawMark) {
		return []byte(s[len(rawMark):])
	}
	if !needsRaw(s) {
		return []byte(s)
	}
	return []byte(unpacker.Replace(s))
}

// A history entry's state and time are stored short: taskflow's states as
// one letter (entryCodes), and the time, in Unix microseconds, in base 52
// written with letters (nine of them until 2058), where a decimal number
// would take sixteen digits. Entries written as state names and decimal
// numbers are read as well. lua/lib.lua (entry) writes the same.
var entryCodes = map[states.Name]string{
	states.NameEnqueued: "E", states.NameScheduled: "S", states.NameAwaiting: "A", states.NameProcessing: "P",
	states.NameSucceeded: "O", states.NameFailed: "F", states.NameDeleted: "D",
}

var entryStates = func() map[string]states.Name {
	m := make(map[string]states.Name, len(entryCodes))
	for name, code := range entryCodes {
		m[code] = name
	}
	return m
}()

const base52 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// entryState returns the code of state, or its name when it has none.
func entryState(state states.Name) string {
	if c, ok := entryCodes[state]; ok {
		return c
	}
	return string(state)
}

// stateOfEntry decodes what entryState encoded.
func stateOfEntry(s string) states.Name {
	if name, ok := entryStates[s]; ok {
		return name
	}
	return states.Name(s)
}

// entryTime encodes t; times before 1970 as micros does.
func entryTime(t time.Time) string {
	n := t.UnixMicro()
	if t.IsZero() || n < 0 {
		return micros(t)
	}
	var b [12]byte
	i := len(b)
	for {
		i--
		b[i] = base52[n%52]
		if n /= 52; n == 0 {
			return string(b[i:])
		}
	}
}

// timeOfEntry decodes what entryTime encoded.
func timeOfEntry(s string) time.Time {
	if s == "" || strings.IndexByte(base52, s[0]) < 0 {
		return fromMicros(s)
	}
	var n int64
	for i := 0; i < len(s); i++ {
		n = n*52 + int64(strings.IndexByte(base52, s[i]))
	}
	return time.UnixMicro(n).UTC()
}
