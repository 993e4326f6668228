// Package integrationtest holds the tests that span several of taskflow's
// modules (the core, a store, an integration), so that no module's
// requirements grow by the test dependencies of another: tracing through
// PostgreSQL, taskflowtest's assertions inside a PostgreSQL transaction,
// and the cost of every integration on at once.
//
// A test rig: it holds only tests.
package integrationtest
