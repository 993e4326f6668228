package rig_test

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// testRigs are the packages under internal/ that only tests import. Every
// other package there is an engine part of the worker.
var testRigs = []string{"benchrig", "codectest", "crashtest", "flowstress", "integrationtest", "pgtest", "rig", "stresstest"}

const taskflowPkg = "github.com/taskflow-go/taskflow/taskflow"

// deps lists the packages the package in dir depends on, itself included.
func deps(t *testing.T, dir string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", dir).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", dir, err)
	}
	return strings.Fields(string(out))
}

// TestEnginePackagesDoNotImportTaskflow: no engine package under internal/
// depends on package taskflow, which imports them; only the test rigs may.
func TestEnginePackagesDoNotImportTaskflow(t *testing.T) {
	entries, err := os.ReadDir("..")
	if err != nil {
		t.Fatal(err)
	}
	// The check must see an import where there is one.
	if !slices.Contains(deps(t, "../stresstest"), taskflowPkg) {
		t.Fatalf("go list -deps ../stresstest lacks %s", taskflowPkg)
	}
	var engine int
	for _, e := range entries {
		if !e.IsDir() || slices.Contains(testRigs, e.Name()) {
			continue
		}
		engine++
		t.Run(e.Name(), func(t *testing.T) {
			if slices.Contains(deps(t, "../"+e.Name()), taskflowPkg) {
				t.Errorf("internal/%s imports %s: an engine part must not; if it is a test rig, list it in testRigs", e.Name(), taskflowPkg)
			}
		})
	}
	if engine == 0 {
		t.Fatal("no engine package found under internal/")
	}
}
