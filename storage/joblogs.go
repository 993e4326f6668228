package storage

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// LogRecord is one record a task logged during an attempt.
type LogRecord struct {
	JobID   uuid.UUID
	Attempt int
	At      time.Time
	Level   string // slog's level name: DEBUG, INFO, WARN, ERROR
	Message string
	Attrs   []byte // JSON object of the record's attributes; nil for none
}

// Progress is what a task last said of how far it has got.
type Progress struct {
	JobID   uuid.UUID
	Attempt int
	Percent int
	Message string
	At      time.Time
}

// JobLogs is implemented by stores that keep what tasks log and their
// progress, with the job: both go when the job is removed.
type JobLogs interface {
	// AppendLogs stores records of any number of jobs, in one call. A
	// record of a job that no longer exists is dropped.
	AppendLogs(ctx context.Context, records []LogRecord) error
	// SetProgress stores the latest progress of any number of jobs, in one
	// call, replacing what was stored; a job that no longer exists is
	// skipped. Of the entries naming one job, the last one given is
	// stored.
	SetProgress(ctx context.Context, progress []Progress) error
	// JobLogs returns the records of job id, in the order appended, and
	// its latest progress (nil if none), or ErrNotFound when the job does
	// not exist.
	JobLogs(ctx context.Context, id uuid.UUID) ([]LogRecord, *Progress, error)
}
