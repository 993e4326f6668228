package taskflow_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadmeInOneScreenRuns runs the README's "In one screen" program as
// shown and checks what it prints.
func TestReadmeInOneScreenRuns(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(readme), "## In one screen\n\n```go\n")
	require.True(t, ok, "the README has no \"In one screen\" Go block")
	src, _, ok := strings.Cut(rest, "```\n")
	require.True(t, ok)
	// A directory under testdata is inside the module but outside ./...
	dir, err := os.MkdirTemp("testdata", "readme")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644))
	cmd := exec.Command("go", "run", "./"+filepath.ToSlash(dir))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "%s", stderr.String())
	require.Equal(t, "sent-to-ada@example.com <nil>\n", string(out))
	require.Contains(t, stderr.String(), "taskflow: worker started", "the worker's start-up line")
}

// TestReadmeIsAFrontDoor: the README stays short, and links every guide
// under docs/.
func TestReadmeIsAFrontDoor(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	lines := strings.Count(string(readme), "\n")
	require.LessOrEqual(t, lines, 300, "the README has %d lines; move detail into a guide under docs/", lines)
	guides, err := filepath.Glob("../docs/*.md")
	require.NoError(t, err)
	require.NotEmpty(t, guides)
	for _, g := range guides {
		link := "](docs/" + filepath.Base(g)
		require.True(t, strings.Contains(string(readme), link+")") || strings.Contains(string(readme), link+"#"),
			"the README links no %s", g)
	}
}
