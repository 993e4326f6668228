module github.com/taskflow-go/taskflow/examples/limits

go 1.26.0

require (
	github.com/jackc/pgx/v5 v5.12.0
	github.com/taskflow-go/taskflow v0.1.0
	github.com/taskflow-go/taskflow/storage/pgstore v0.1.0
)

require (
	github.com/google/uuid v1.6.0 // indirect
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/puddle/v2 v2.2.3 // indirect
	github.com/robfig/cron/v3 v3.0.1 // indirect
	golang.org/x/sync v0.25.0 // indirect
	golang.org/x/text v0.42.0 // indirect
)
