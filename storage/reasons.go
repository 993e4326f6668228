package storage

import (
	"github.com/taskflow-go/taskflow/states"
)

// Reasons reads the reason of encoded states for stores that keep it
// apart (as the first history entry of created jobs). It remembers the last
// state data it decoded: the jobs of one Create call usually share theirs.
// The zero value is ready to use; it is not safe for concurrent use.
type Reasons struct {
	data   []byte
	reason string
}

// Of returns the reason recorded in data, the encoding of a state called
// name, or "" if data does not decode.
func (r *Reasons) Of(name states.Name, data []byte) string {
	if len(data) > 0 && len(data) == len(r.data) && &data[0] == &r.data[0] {
		return r.reason
	}
	r.data, r.reason = data, ""
	if st, err := states.Unmarshal(name, data); err == nil {
		r.reason = st.Why()
	}
	return r.reason
}
