package taskflow

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestModuleVersion(t *testing.T) {
	t.Parallel()
	other := &debug.Module{Path: "example.com/other", Version: "v9.9.9"}
	tests := []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"main module from a checkout", debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "(devel)"}}, devVersion},
		{"main module built at a tag", debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "v0.3.1"}}, "v0.3.1"},
		{"a required release", debug.BuildInfo{Main: debug.Module{Path: "example.com/app"},
			Deps: []*debug.Module{other, {Path: modulePath, Version: "v0.2.0"}}}, "v0.2.0"},
		{"a replaced requirement", debug.BuildInfo{Main: debug.Module{Path: "example.com/app"},
			Deps: []*debug.Module{{Path: modulePath, Version: "v0.2.0", Replace: &debug.Module{Path: "../taskflow"}}}}, devVersion},
		{"a replacement at a release", debug.BuildInfo{Main: debug.Module{Path: "example.com/app"},
			Deps: []*debug.Module{{Path: modulePath, Version: "v0.2.0", Replace: &debug.Module{Path: "example.com/fork", Version: "v0.2.1"}}}}, "v0.2.1"},
		{"not linked in", debug.BuildInfo{Main: debug.Module{Path: "example.com/app"}, Deps: []*debug.Module{other}}, devVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := moduleVersion(&tt.bi); got != tt.want {
				t.Errorf("moduleVersion = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestVersionIsSemver(t *testing.T) {
	t.Parallel()
	if v := Version(); !strings.HasPrefix(v, "v0.") && !strings.HasPrefix(v, "v1.") {
		t.Errorf("Version() = %q, want a semantic version", v)
	}
}
