package taskflow

import "runtime/debug"

// modulePath is the path of the module that holds this package.
const modulePath = "github.com/taskflow-go/taskflow"

// devVersion is what Version reports when the build records no version of
// the module, as in a build from a checkout: the next release, marked as
// work towards it. It is raised after each release is tagged.
const devVersion = "v0.1.0-devel"

// Version reports the version of the taskflow module built into the
// running program, as the go command recorded it ("v0.1.0" for a program
// that requires that release), or a "-devel" version when the program was
// built from a checkout of taskflow itself.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return devVersion
	}
	return moduleVersion(bi)
}

// moduleVersion finds taskflow's module among the main module and the
// dependencies of bi, and returns its version if it is a release.
func moduleVersion(bi *debug.BuildInfo) string {
	mods := append([]*debug.Module{&bi.Main}, bi.Deps...)
	for _, m := range mods {
		if m.Path != modulePath {
			continue
		}
		if m.Replace != nil {
			m = m.Replace
		}
		if m.Version != "" && m.Version != "(devel)" {
			return m.Version
		}
	}
	return devVersion
}
