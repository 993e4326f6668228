// A state name is Finished (Succeeded, Failed, Deleted) or Expires
// (Succeeded, Deleted); IsFinal is gone.
package main

import "github.com/taskflow-go/taskflow/states"

var _ = states.NameFailed.IsFinal()

func main() {}
