// Package examples holds the policy assignd runs when POLICY_FILE is unset,
// and the test cases that document it.
package examples

import "embed"

//go:embed *.yaml
var files embed.FS

// Name is the embedded default policy's file name, used as its source in logs.
const Name = "assignment.yaml"

// Assignment returns the embedded default policy.
func Assignment() []byte {
	data, err := files.ReadFile(Name)
	if err != nil {
		panic("examples: embedded policy missing: " + err.Error()) // impossible: checked at build
	}
	return data
}
