module github.com/taskflow-go/taskflow/examples/restart

go 1.26.0

require (
	github.com/taskflow-go/taskflow v0.1.0
	github.com/taskflow-go/taskflow/storage/sqlitestore v0.1.0
)

require (
	github.com/google/uuid v1.6.0 // indirect
	github.com/ncruces/go-sqlite3 v0.37.0 // indirect
	github.com/ncruces/go-sqlite3-wasm/v6 v6.5.35401 // indirect
	github.com/ncruces/julianday v1.0.0 // indirect
	github.com/robfig/cron/v3 v3.0.1 // indirect
	golang.org/x/sync v0.25.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
