module github.com/taskflow-go/taskflow/examples/dashboard

go 1.26.0

require (
	github.com/taskflow-go/taskflow v0.1.0
	github.com/taskflow-go/taskflow/dashboard v0.1.0
)

require (
	github.com/google/uuid v1.6.0 // indirect
	github.com/robfig/cron/v3 v3.0.1 // indirect
	golang.org/x/sync v0.25.0 // indirect
)
