package emulator

import "strings"

// This file is a task's RoutingTarget (Twilio, July 2024: "route tasks
// directly to a worker, task queue, or workflow"): a workflow's SID routes
// the task through that workflow, as WorkflowSid does; a task queue's SID
// puts it straight into that queue, past the workflow's filters, where it
// waits with no target timeout. The assignment callback is still the
// task's workflow's (WorkflowSid, or the workspace's only workflow). A
// worker's SID is refused: routing to one worker regardless of its
// availability and capacity (IgnoreCapacity) is not emulated.

// directStep is the filter index of a task routed straight to a queue: it
// is in no step of its workflow.
const directStep = -2

// routingTarget reads the RoutingTarget parameter: the workflow it names
// ("" when it names none), or the target of the queue it names.
func routingTarget(ws *workspace, sid string) (workflow string, direct *target, err *apiError) {
	switch {
	case sid == "":
		return "", nil, nil
	case strings.HasPrefix(sid, prefixWorkflow) && ws.workflows.get(sid) != nil:
		return sid, nil, nil
	case strings.HasPrefix(sid, prefixQueue) && ws.queues.get(sid) != nil:
		return "", &target{queue: sid}, nil
	case strings.HasPrefix(sid, prefixWorker) && ws.workers.get(sid) != nil:
		return "", nil, errParam("Invalid RoutingTarget %s: the emulator routes to a task queue or a workflow, not directly to a worker", sid)
	}
	return "", nil, errParam("Invalid RoutingTarget %s: no worker, task queue or workflow with that SID in workspace %s", sid, ws.sid)
}
