package pgstore

import (
	"bytes"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// scanJob reads the columns of jobCols.
func scanJob(row pgx.CollectableRow) (*storage.Job, error) {
	var js jobScanner
	return js.scan(row)
}

// jobScanner reads rows of jobCols into columns it reuses from row to
// row (scanning into locals would allocate each of them per row). The jobs
// of one call share the strings that repeat from row to row (task, queue,
// state, lease owner) and equal consecutive state data (a fetch's
// Processing state), instead of a copy of each per job.
type jobScanner struct {
	names map[string]string
	data  []byte  // the last state data kept, capped so that appending copies it
	dest  []any   // pointers to the fields of c, in the order of jobCols
	seqs  []int64 // when not nil, each row has enqueued_seq after jobCols, appended here
	c     struct {
		id                                 [16]byte
		task, queue, state, owner, key     pgtype.DriverBytes
		partition                          pgtype.DriverBytes
		data, params                       pgtype.DriverBytes // valid until the next row
		args                               []byte
		priority, attempt                  int
		created, updated                   time.Time
		token, seq                         int64
		runAt, expireAt, leaseUntil, until pgtype.Timestamptz
		parent, batch                      pgtype.UUID
	}
}

// maxNames bounds the strings a jobScanner keeps.
const maxNames = 64

func (s *jobScanner) name(b []byte) string {
	if v, ok := s.names[string(b)]; ok {
		return v
	}
	v := string(b)
	if s.names == nil {
		s.names = make(map[string]string, 8)
	}
	if len(s.names) < maxNames {
		s.names[v] = v
	}
	return v
}

func (s *jobScanner) scan(row pgx.CollectableRow) (*storage.Job, error) {
	c := &s.c
	if s.dest == nil {
		s.dest = []any{&c.id, &c.task, &c.args, &c.queue, &c.priority, &c.state, &c.data, &c.runAt, &c.attempt,
			&c.created, &c.updated, &c.expireAt, &c.params, &c.owner, &c.token, &c.leaseUntil, &c.parent, &c.batch,
			&c.key, &c.until, &c.partition}
		if s.seqs != nil {
			s.dest = append(s.dest, &c.seq)
		}
	}
	c.args = nil // a fresh copy per row: the job keeps it
	if err := row.Scan(s.dest...); err != nil {
		return nil, err
	}
	if s.seqs != nil {
		s.seqs = append(s.seqs, c.seq)
	}
	j := &storage.Job{
		ID: c.id, Task: s.name(c.task), Args: c.args, Queue: s.name(c.queue), Priority: c.priority,
		State: states.Name(s.name(c.state)), RunAt: c.runAt.Time, Attempt: c.attempt, CreatedAt: c.created,
		UpdatedAt: c.updated, ExpireAt: c.expireAt.Time, ParentID: c.parent.Bytes, BatchID: c.batch.Bytes,
		UniqueUntil: c.until.Time, LeaseOwner: s.name(c.owner), LeaseToken: c.token, LeaseUntil: c.leaseUntil.Time,
	}
	if len(c.key) > 0 {
		j.UniqueKey = string(c.key)
	}
	if len(c.partition) > 0 {
		j.Partition = string(c.partition)
	}
	if c.data != nil {
		if s.data == nil || !bytes.Equal(c.data, s.data) {
			d := bytes.Clone(c.data)
			s.data = d[:len(d):len(d)]
		}
		j.StateData = s.data
	}
	if c.params != nil {
		var err error
		if j.Params, err = decodeParams(bytes.Clone(c.params)); err != nil { // the members point into it
			return nil, fmt.Errorf("job %s params: %w", j.ID, err)
		}
	}
	return j, nil
}
