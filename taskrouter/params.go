package taskrouter

import "slices"

// ParamType is how an assignment callback parameter's value is written.
type ParamType int

const (
	TypeSid   ParamType = iota // a SID with the parameter's Prefix
	TypeCount                  // a non-negative decimal integer
	TypeJSON                   // a JSON object
	TypeText                   // text taken as sent
)

func (t ParamType) String() string {
	return [...]string{"sid", "count", "json", "text"}[t]
}

// Param is one parameter TaskRouter posts to the assignment callback.
type Param struct {
	Name     string    // form name, e.g. "TaskQueueSid"
	Type     ParamType // see ParamType
	Prefix   string    // for TypeSid, the SID prefix
	Required bool      // a callback without it cannot be acted on
	Meaning  string    // what it says, for docs and the inspector
}

// Assignment callback parameter names; callbackParams describes each.
const (
	ParamAccountSid       = "AccountSid"
	ParamWorkspaceSid     = "WorkspaceSid"
	ParamWorkflowSid      = "WorkflowSid"
	ParamTaskQueueSid     = "TaskQueueSid"
	ParamWorkerSid        = "WorkerSid"
	ParamTaskSid          = "TaskSid"
	ParamReservationSid   = "ReservationSid"
	ParamTaskAge          = "TaskAge"
	ParamTaskPriority     = "TaskPriority"
	ParamTaskAttributes   = "TaskAttributes"
	ParamWorkerAttributes = "WorkerAttributes"
	ParamTimestamp        = "Timestamp"
)

// callbackParams is the one table of the assignment callback's documented
// parameters. The handler's parsing and encoding are derived from it; the
// emulator's callback, the policy's CEL variables and the decision log's
// columns are checked against it by tests.
var callbackParams = [...]Param{
	{ParamAccountSid, TypeSid, PrefixAccount, true, "the account that owns the workspace"},
	{ParamWorkspaceSid, TypeSid, PrefixWorkspace, true, "the workspace"},
	{ParamWorkflowSid, TypeSid, PrefixWorkflow, false, "the workflow that routed the task"},
	{ParamTaskQueueSid, TypeSid, PrefixQueue, false, "the queue the task was in"},
	{ParamWorkerSid, TypeSid, PrefixWorker, true, "the worker reserved"},
	{ParamTaskSid, TypeSid, PrefixTask, true, "the task offered"},
	{ParamReservationSid, TypeSid, PrefixReservation, true, "the reservation to answer"},
	{ParamTaskAge, TypeCount, "", false, "seconds since the task was created"},
	{ParamTaskPriority, TypeCount, "", false, "the task's priority"},
	{ParamTaskAttributes, TypeJSON, "", false, "the task's attributes"},
	{ParamWorkerAttributes, TypeJSON, "", false, "the worker's attributes"},
	{ParamTimestamp, TypeText, "", false, "when TaskRouter sent the callback (Unix seconds)"},
}

// CallbackParams returns the assignment callback's documented parameters,
// SIDs first, attributes after the scalars.
func CallbackParams() []Param { return slices.Clone(callbackParams[:]) }

// IsCallbackParam reports whether name is one of the documented parameters;
// TaskRouter sends others too (e.g. WorkerName), which policies see as extras.
func IsCallbackParam(name string) bool {
	for i := range callbackParams {
		if callbackParams[i].Name == name {
			return true
		}
	}
	return false
}
