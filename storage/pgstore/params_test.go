package pgstore

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDecodeParamsMatchesEncodingJSON(t *testing.T) {
	tests := []struct {
		name, in string
		split    bool // decoded without encoding/json
	}{
		{"empty", `{}`, true},
		{"as jsonb prints it", `{"a": 1, "trace": {"traceparent": "00-4bf9-01"}}`, true},
		{"compact", `{"a":1,"b":"x"}`, true},
		{"strings holding separators", `{"s": "a, b: {c} [d]", "t": "say \"hi\", \\", "u": ["x,y", {"z": "}"}]}`, true},
		{"every kind of value", `{"n": null, "t": true, "f": -1.5e3, "arr": [], "obj": {}}`, true},
		{"spaces around", ` { "a" : 1 , "b" : [1, 2] } `, true},
		{"a key with an escape", `{"a\"b": 1}`, false},
		{"unicode", `{"ключ": "значение"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want map[string]json.RawMessage
			require.NoError(t, json.Unmarshal([]byte(tt.in), &want))
			_, split := splitObject([]byte(tt.in))
			require.Equal(t, tt.split, split)
			got, err := decodeParams([]byte(tt.in))
			require.NoError(t, err)
			require.Equal(t, len(want), len(got))
			for k, v := range want {
				require.JSONEq(t, string(v), string(got[k]), "member %q", k)
			}
		})
	}
	_, err := decodeParams([]byte(`[1]`))
	require.Error(t, err, "not an object")
}
