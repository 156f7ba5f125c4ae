package decisionlog

import "github.com/assignd/assignd/policy"

// redact is the one place where a record's customer data and secrets are
// taken out of an entry before it is stored (and so before the inspector
// or the admin API can show it). In every mode, secret instruction fields
// (policy.SecretFields, e.g. sip_auth_password) are redacted. In summary
// mode, so is everything that may carry an attribute value: the
// instruction fields the policy computed from the reservation
// (policy.Decision.Computed), computed keys in the explanation's missing
// attributes, and the text of evaluation errors.
func redact(e *Entry, d policy.Decision, err error, mode Mode) {
	var computed []string
	if mode != ModeFull {
		computed = d.Computed
	}
	e.Answer = policy.RedactInstructionJSON(e.Answer, computed)
	if !d.Async && e.InstructionJSON != nil {
		// A sync entry's instruction is its answer (Log.entry sets both
		// from the same bytes): redact them once.
		e.InstructionJSON = e.Answer
	} else {
		e.InstructionJSON = policy.RedactInstructionJSON(e.InstructionJSON, computed)
	}
	if mode == ModeFull {
		return
	}
	e.Error = policy.RedactError(err)
	e.Steps = policy.RedactSteps(e.Steps)
}
