package taskflow

import "fmt"

// DecodeArgs decodes the stored arguments of a job of t (JobInfo.Args,
// Ran.Args) with the task's codec. An error wraps ErrDecode.
func (t *Task[Args, Result]) DecodeArgs(data []byte) (Args, error) {
	var args Args
	if err := t.codec.Unmarshal(data, &args); err != nil {
		return args, fmt.Errorf("%w args of task %q: %w", ErrDecode, t.name, err)
	}
	return args, nil
}
