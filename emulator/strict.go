package emulator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
)

// The emulator never silently ignores what a request asks for: a parameter
// it does not carry out is refused with Twilio's 400 20001 naming it, or,
// with Options.AllowUnsupported, accepted with a warning in Options.Log.
//
// How each kind of request is held to that:
//
//   - A create or update (POST) may send only the form parameters its
//     endpoint lists in SupportedParams. The check runs before the handler,
//     so a refused request has no effect at all.
//   - A handler's reads are recorded (params and call.query). A listed
//     parameter the request sent that the handler did not read, on a
//     request it answered 2xx, is the table lying: logged as an error, and
//     TestEveryRequestFieldImplementedOrRefused fails on it.
//   - A GET's query parameters are the ones its handler reads through
//     call.query: one sent and not read is refused after the handler ran,
//     which is safe because a GET changes nothing. (The walking test also
//     shows each accepted list filter narrowing the list, so a read that
//     drops the value fails it.)
//   - A DELETE takes no parameters: any is refused before it runs.
//   - Request headers: the only one Twilio describes is If-Match, carried
//     out wherever it is described (etag.go); the walking test sends each
//     stale and wants 412 20412.
//   - Values the emulator does not carry out (Template=FIFO, a task's
//     Reason without a cancel or completion) and workflow Configuration
//     keys it does not know (configKeys) are refused the same way, by the
//     handler.

// SupportedParams returns the form parameters each create or update
// endpoint carries out, in Twilio's spelling: the one definition the
// requests are checked against and the walking test reads, fresh on each
// call so no caller changes another's. Each parameter has
// an effect a test shows over REST: TestBuildWorkspaceOverREST (creating
// workspaces, activities, workers, queues with TargetWorkers,
// MaxReservedWorkers, TaskOrder, workflows and tasks, and updating them),
// TestQueueOrder (task Priority), TestTaskTimeoutCancels (task Timeout),
// TestEveryLifecycleRowRuns (AssignmentStatus, ActivitySid),
// TestLogAndBoundedHistory (worker Attributes), TestFallbackURL (the
// fallback URL, through the same workflowParams), and
// TestListedParamsTakeEffect for the rest (DefaultActivitySid,
// TimeoutActivitySid, MultiTaskEnabled, EventCallbackUrl,
// EventsFilter, Reservation/AssignmentActivitySid,
// RejectPendingReservations, ReEvaluateTasks, Reason, TaskChannel, the
// activity's FriendlyName); TestPrioritizeQueueOrder the workspace's
// PrioritizeQueueOrder; channels_test.go shows the task channels'
// and worker channels' (Capacity, Available), and MultiTaskEnabled's
// effect on capacity and queue activities. Twilio parameters missing here
// are refused;
// notable ones, and why:
//
//   - Workspaces: Template=FIFO by value (no sample queue and workflow).
//   - Task channels: ChannelOptimizedRouting (routing across channels by
//     idle time is not emulated).
//   - Tasks: IgnoreCapacity (create; routing straight to a worker is not
//     emulated, so neither is its capacity override); TaskQueueSid
//     (create) and TaskChannel (update), whose effect Twilio does not
//     document (doc.go).
func SupportedParams() map[Endpoint][]string {
	return map[Endpoint][]string{
		CreateWorkspace:     {"FriendlyName", "EventCallbackUrl", "EventsFilter", "MultiTaskEnabled", "Template", "PrioritizeQueueOrder"},
		UpdateWorkspace:     {"FriendlyName", "EventCallbackUrl", "EventsFilter", "MultiTaskEnabled", "DefaultActivitySid", "TimeoutActivitySid", "PrioritizeQueueOrder"},
		CreateActivity:      {"FriendlyName", "Available"},
		UpdateActivity:      {"FriendlyName"},
		CreateWorker:        {"FriendlyName", "ActivitySid", "Attributes"},
		UpdateWorker:        {"ActivitySid", "Attributes", "FriendlyName", "RejectPendingReservations"},
		CreateTaskQueue:     queueFormParams(),
		UpdateTaskQueue:     queueFormParams(),
		CreateWorkflow:      {"FriendlyName", "Configuration", "AssignmentCallbackUrl", "FallbackAssignmentCallbackUrl", "TaskReservationTimeout"},
		UpdateWorkflow:      {"FriendlyName", "Configuration", "AssignmentCallbackUrl", "FallbackAssignmentCallbackUrl", "TaskReservationTimeout", "ReEvaluateTasks"},
		CreateTask:          {"Timeout", "Priority", "TaskChannel", "WorkflowSid", "Attributes", "VirtualStartTime", "RoutingTarget"},
		UpdateTask:          {"Attributes", "AssignmentStatus", "Reason", "Priority", "VirtualStartTime"},
		CreateTaskChannel:   {"FriendlyName", "UniqueName"},
		UpdateTaskChannel:   {"FriendlyName"},
		UpdateWorkerChannel: {"Capacity", "Available"},
		// The reservation update: status and instruction are carried out; an
		// instruction's other parameters are recorded on the reservation
		// (instruction_parameters: the call it would place, doc.go), which
		// instructions_test.go checks.
		UpdateTaskReservation:   reservationFormParams(),
		UpdateWorkerReservation: reservationFormParams(),
	}
}

func queueFormParams() []string {
	return []string{"FriendlyName", "TargetWorkers", "MaxReservedWorkers", "TaskOrder", "ReservationActivitySid", "AssignmentActivitySid"}
}

func reservationFormParams() []string {
	return []string{"ReservationStatus", "WorkerActivitySid", "Instruction", "DequeuePostWorkActivitySid",
		"DequeueFrom", "DequeueRecord", "DequeueTimeout", "DequeueTo", "DequeueStatusCallbackUrl", "CallFrom", "CallRecord",
		"CallTimeout", "CallTo", "CallUrl", "CallStatusCallbackUrl", "CallAccept", "RedirectCallSid", "RedirectAccept",
		"RedirectUrl", "To", "From", "StatusCallback", "StatusCallbackMethod", "StatusCallbackEvent", "Timeout", "Record",
		"Muted", "Beep", "StartConferenceOnEnter", "EndConferenceOnExit", "WaitUrl", "WaitMethod", "EarlyMedia",
		"MaxParticipants", "ConferenceStatusCallback", "ConferenceStatusCallbackMethod", "ConferenceStatusCallbackEvent",
		"ConferenceRecord", "ConferenceTrim", "RecordingChannels", "RecordingStatusCallback", "RecordingStatusCallbackMethod",
		"ConferenceRecordingStatusCallback", "ConferenceRecordingStatusCallbackMethod", "Region", "SipAuthUsername",
		"SipAuthPassword", "DequeueStatusCallbackEvent", "PostWorkActivitySid", "SupervisorMode", "Supervisor",
		"EndConferenceOnCustomerExit", "BeepOnCustomerEntrance", "JitterBufferSize"}
}

// recordedOnly reports whether ep's listed parameters are recorded whole
// rather than read one by one, so the read check does not apply to it.
func recordedOnly(ep Endpoint) bool {
	return ep == UpdateTaskReservation || ep == UpdateWorkerReservation
}

// errUnsupported is the refusal of something the emulator does not carry
// out, named as the request sent it.
func errUnsupported(what string) *apiError {
	return errParam("Parameter %s is not supported by the emulator", what)
}

// reads records which request parameters a handler read. It travels in the
// request's context so that formParams(r) and page(r, …), which other
// handlers call with the request alone, record into it too.
type reads struct {
	mu sync.Mutex
	m  map[string]bool
}

type readsKey struct{}

func withReads(r *http.Request) (*http.Request, *reads) {
	rd := &reads{m: map[string]bool{}}
	return r.WithContext(context.WithValue(r.Context(), readsKey{}, rd)), rd
}

// markRead records that parameter k of r was read; nothing when r carries
// no record (a request built outside serve).
func markRead(r *http.Request, k string) {
	if rd, ok := r.Context().Value(readsKey{}).(*reads); ok {
		rd.mu.Lock()
		rd.m[k] = true
		rd.mu.Unlock()
	}
}

func (rd *reads) has(k string) bool {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return rd.m[k]
}

// query is r's query parameter k, recorded as read.
func query(r *http.Request, k string) string {
	markRead(r, k)
	return r.URL.Query().Get(k)
}

// queryAll is every value of r's query parameter k, recorded as read.
func queryAll(r *http.Request, k string) []string {
	markRead(r, k)
	return r.URL.Query()[k]
}

// sentKeys are the names of v, sorted so the first refused is stable.
func sentKeys(v url.Values) []string {
	out := make([]string, 0, len(v))
	for k := range v {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkBefore refuses, before the handler runs, a POST's form parameters
// its endpoint does not list and any parameter of a DELETE. With
// AllowUnsupported it warns instead and the handler runs without them
// having any effect (no handler reads an unlisted parameter).
func (e *Emulator) checkBefore(c *call, ep Endpoint) *apiError {
	var sent url.Values
	switch c.r.Method {
	case http.MethodPost:
		v, err := form(c.r)
		if err != nil {
			return err
		}
		sent = v
	case http.MethodDelete:
		sent = c.r.URL.Query()
	default:
		return nil
	}
	supported := e.supported[ep]
	for _, k := range sentKeys(sent) {
		if !slices.Contains(supported, k) {
			if err := c.unsupported(ep, k); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkAfter runs after a handler answered 2xx. A GET's query parameters
// it did not read are refused (a GET changed nothing). A POST's listed
// parameters it did not read mean SupportedParams claims what the handler
// does not do: logged as the emulator's own error.
func (e *Emulator) checkAfter(c *call, ep Endpoint, rd *reads) *apiError {
	switch c.r.Method {
	case http.MethodGet:
		for _, k := range sentKeys(c.r.URL.Query()) {
			if !rd.has(k) {
				if err := c.unsupported(ep, k); err != nil {
					return err
				}
			}
		}
	case http.MethodPost:
		if recordedOnly(ep) {
			return nil
		}
		supported := e.supported[ep]
		for _, k := range sentKeys(c.r.Form) {
			if slices.Contains(supported, k) && !rd.has(k) {
				e.opt.Log.Error().Str("endpoint", string(ep)).Str("parameter", k).
					Msg("emulator bug: parameter listed as supported was not read by its handler")
			}
		}
	}
	return nil
}

// unsupported refuses what (a parameter, a value, a configuration key)
// with Twilio's 400, or with AllowUnsupported logs a warning and returns
// nil: the request goes on without it.
func (c *call) unsupported(ep Endpoint, what string) *apiError {
	if !c.lax {
		return errUnsupported(what)
	}
	c.log.Warn().Str("endpoint", string(ep)).Str("parameter", what).
		Msg("not supported by the emulator: accepted and ignored (AllowUnsupported)")
	return nil
}

// Workflow Configuration keys. The documented ones are the json tags of
// configJSON (and what it holds), every one carried out (order_by, skip_if
// and the known-worker keys in targets.go); a key that is none of those is
// refused by its path.

// configKeys returns the paths of raw's keys that configJSON does not
// define, e.g.
// "task_routing.filters[0].targets[1].ordre_by". raw is already valid JSON.
func configKeys(raw string) []string {
	var out []string
	walkKeys(json.RawMessage(raw), reflect.TypeOf(configJSON{}), "", &out)
	return out
}

// walkKeys checks the object keys of msg against the json tags of t,
// recursing through pointers, slices and structs.
func walkKeys(msg json.RawMessage, t reflect.Type, path string, out *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Slice:
		var items []json.RawMessage
		if json.Unmarshal(msg, &items) != nil {
			return // not an array: decoding reports it
		}
		for i, it := range items {
			walkKeys(it, t.Elem(), fmt.Sprintf("%s[%d]", path, i), out)
		}
	case reflect.Struct:
		var obj map[string]json.RawMessage
		if json.Unmarshal(msg, &obj) != nil {
			return
		}
		fields := jsonFields(t)
		for _, k := range sortedKeys(obj) {
			p := k
			if path != "" {
				p = path + "." + k
			}
			ft, ok := fields[k]
			switch {
			case !ok:
				*out = append(*out, p)
			default:
				walkKeys(obj[k], ft, p, out)
			}
		}
	}
}

// jsonFields maps a struct's json names to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			m[name] = f.Type
		}
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
