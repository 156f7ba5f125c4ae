package taskrouter

import "slices"

// Instruction names: the values of an assignment answer's "instruction" key.
const (
	InstructionAccept     = "accept"
	InstructionReject     = "reject"
	InstructionDequeue    = "dequeue"
	InstructionCall       = "call"
	InstructionRedirect   = "redirect"
	InstructionConference = "conference"
)

// instructionNames is the one list, in the order Twilio's docs give them.
var instructionNames = [...]string{
	InstructionAccept, InstructionReject, InstructionDequeue,
	InstructionCall, InstructionRedirect, InstructionConference,
}

// InstructionNames returns every instruction TaskRouter understands; error
// messages such as "unknown instruction" list from it.
func InstructionNames() []string { return slices.Clone(instructionNames[:]) }

// IsInstruction reports whether name is one of InstructionNames.
func IsInstruction(name string) bool { return slices.Contains(instructionNames[:], name) }
