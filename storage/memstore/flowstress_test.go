package memstore_test

import (
	"testing"

	"github.com/taskflow-go/taskflow/internal/flowstress"
	"github.com/taskflow-go/taskflow/storage/memstore"
)

func TestFlowControlUnderStress(t *testing.T) {
	flowstress.Run(t, memstore.New(), flowstress.Config{})
}
