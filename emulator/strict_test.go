package emulator_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/rs/zerolog"

	"github.com/assignd/assignd/emulator"
	"github.com/assignd/assignd/internal/needs"
)

// walkFixture is a workspace with one of everything, whose SIDs fill the
// path parameters of every operation.
type walkFixture struct {
	h                                                         *harness
	log                                                       *lockedBuffer
	ws, activity, worker, queue, workflow, task, res, channel string
	event                                                     string
	n                                                         int // for unique names
}

func newWalkFixture(t *testing.T) *walkFixture {
	t.Helper()
	buf := &lockedBuffer{}
	log := zerolog.New(buf)
	h := newHarness(t, emulator.Options{Log: &log})
	l := tutorial(t, h, newApp(t, answerAlways(`{}`)), nil)
	tk := h.spanishTaskForAlice(l)
	f := &walkFixture{h: h, log: buf, ws: l.Workspace, activity: l.Activities["Idle"], worker: l.Workers["Alice"],
		queue: l.TaskQueues["Customer Care Requests - Spanish"], workflow: l.Workflows["Tutorial Workflow"],
		task: *tk.Sid, res: *h.reservations(l.Workspace, *tk.Sid)[0].Sid, channel: str(tk.TaskChannelSid)}
	if f.queue == "" {
		for _, sid := range l.TaskQueues {
			f.queue = sid
			break
		}
	}
	_, body := rawGet(t, h.srv.URL+"/v1/Workspaces/"+f.ws+"/Events?PageSize=1")
	var evs struct{ Events []struct{ Sid string } }
	if err := json.Unmarshal([]byte(body), &evs); err != nil || len(evs.Events) == 0 {
		t.Fatalf("no event to fetch: %s %v", body, err)
	}
	f.event = evs.Events[0].Sid
	return f
}

// path fills the operation's path parameters with the fixture's SIDs: a
// {Sid} is the resource its collection names.
func (f *walkFixture) path(p string) string {
	bySeg := map[string]string{"Workspaces": f.ws, "Activities": f.activity, "Workers": f.worker, "TaskQueues": f.queue,
		"Workflows": f.workflow, "Tasks": f.task, "Reservations": f.res, "Events": f.event, "TaskChannels": f.channel,
		"Channels": f.channel}
	named := map[string]string{"{WorkspaceSid}": f.ws, "{WorkerSid}": f.worker, "{TaskSid}": f.task,
		"{TaskQueueSid}": f.queue, "{WorkflowSid}": f.workflow}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if v, ok := named[s]; ok {
			segs[i] = v
		} else if s == "{Sid}" {
			segs[i] = bySeg[segs[i-1]]
		}
	}
	return strings.Join(segs, "/")
}

// value is a plausible value of field name with schema s: a SID of the
// fixture where the name says which, else one the schema's type allows.
func (f *walkFixture) value(name string, s *openapi3.Schema) string {
	f.n++
	switch {
	case name == "FriendlyName" || name == "UniqueName":
		return fmt.Sprintf("walk-%d", f.n)
	case strings.HasSuffix(name, "ActivitySid"):
		return f.activity
	case name == "WorkflowSid":
		return f.workflow
	case name == "TaskQueueSid":
		return f.queue
	case name == "WorkerSid":
		return f.worker
	case name == "TaskSid":
		return f.task
	case name == "ReservationSid":
		return f.res
	case name == "Sid":
		return f.event // the Events list's filter
	case name == "Configuration":
		return `{"task_routing":{"default_filter":{"queue":"` + f.queue + `"}}}`
	case name == "Attributes" || name == "EvaluateWorkerAttributes":
		return "{}"
	case name == "TargetWorkers" || name == "TargetWorkersExpression" || name == "EvaluateTaskAttributes":
		return "1==1"
	case name == "TaskChannel":
		return "default"
	case name == "EventsFilter":
		return "task.created"
	case strings.HasSuffix(name, "Url") || strings.HasSuffix(name, "Callback"):
		return "http://127.0.0.1:9/walk"
	}
	return schemaValue(s)
}

func schemaValue(s *openapi3.Schema) string {
	if s == nil {
		return "x"
	}
	if len(s.Enum) > 0 {
		return fmt.Sprint(s.Enum[0])
	}
	if prefix, ok := strings.CutSuffix(s.Pattern, "[0-9a-fA-F]{32}$"); ok {
		return strings.TrimPrefix(prefix, "^") + strings.Repeat("0", 32) // a SID of the right kind
	}
	switch {
	case s.Type.Is("boolean"):
		return "false"
	case s.Type.Is("integer"), s.Type.Is("number"):
		return "1"
	case s.Type.Is("array") && s.Items != nil:
		return schemaValue(s.Items.Value)
	case s.Format == "date-time":
		return "2026-01-01T00:00:00Z"
	}
	return "x"
}

// walked is what one request setting one field showed.
type walked struct {
	status int
	body   string
}

// refused reports whether the answer is the emulator's refusal of field.
func (w walked) refused(field string) bool {
	var e struct {
		Code    int
		Message string
	}
	_ = json.Unmarshal([]byte(w.body), &e)
	return w.status == 400 && e.Code == 20001 && e.Message == "Parameter "+field+" is not supported by the emulator"
}

// Every request field of every operation in Twilio's description of
// /v1/Workspaces is carried out (listed in emulator.SupportedParams for a
// create or update, read by the handler for a GET) or refused by name: the
// emulator never accepts a field and ignores it. Operations it does not
// serve (404) are listed and skipped, so they are covered once served.
func TestEveryRequestFieldImplementedOrRefused(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromFile(needs.TaskRouterSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	f := newWalkFixture(t)
	supported := emulator.SupportedParams()
	var notServed, implemented, refused []string
	served := map[string]bool{}
	paths := doc.Paths.InMatchingOrder()
	sort.Strings(paths)
	for _, p := range paths {
		if !strings.HasPrefix(p, "/v1/Workspaces") {
			continue
		}
		item := doc.Paths.Value(p)
		for method, op := range map[string]*openapi3.Operation{http.MethodPost: item.Post, http.MethodGet: item.Get} {
			if op == nil {
				continue
			}
			for _, field := range requestFields(op, method) {
				w := f.send(t, method, p, op, field)
				switch {
				case w.status == 404:
					if !slices.Contains(notServed, op.OperationID) {
						notServed = append(notServed, op.OperationID)
					}
				case w.refused(field.name):
					served[op.OperationID] = true
					if method == http.MethodPost && slices.Contains(supported[emulator.Endpoint(op.OperationID)], field.name) {
						t.Errorf("%s %s: listed as supported but refused: %s", op.OperationID, field.name, w.body)
					}
					refused = append(refused, op.OperationID+"."+field.name)
				case method == http.MethodPost && !slices.Contains(supported[emulator.Endpoint(op.OperationID)], field.name):
					served[op.OperationID] = true
					t.Errorf("%s %s: neither listed in emulator.SupportedParams nor refused: %d %s", op.OperationID, field.name, w.status, w.body)
				default:
					served[op.OperationID] = true
					implemented = append(implemented, op.OperationID+"."+field.name)
					if method == http.MethodGet {
						f.checkFilters(t, p, op, field)
					}
				}
			}
		}
	}
	f.walkHeaders(t, doc, paths, served)
	for _, line := range strings.Split(f.log.String(), "\n") {
		if strings.Contains(line, "emulator bug") {
			t.Errorf("a listed parameter was not read: %s", line)
		}
	}
	for ep := range supported {
		if !served[string(ep)] {
			t.Errorf("%s: listed in SupportedParams but never reached (404 for every field?)", ep)
		}
	}
	t.Logf("implemented: %d fields; refused: %d fields: %s", len(implemented), len(refused), strings.Join(refused, " "))
	t.Logf("not served (404): %s", strings.Join(notServed, " "))
}

// walkHeaders sends each request header parameter an operation describes
// (If-Match) with a value that cannot match: the emulator must carry it out
// (412 20412, the request refused unapplied) or refuse it by name, never
// answer 2xx as if it were not sent. It runs last, as an ignored header on
// a delete removes the fixture's resource.
func (f *walkFixture) walkHeaders(t *testing.T, doc *openapi3.T, paths []string, served map[string]bool) {
	t.Helper()
	for _, p := range paths {
		if !strings.HasPrefix(p, "/v1/Workspaces") {
			continue
		}
		item := doc.Paths.Value(p)
		for method, op := range map[string]*openapi3.Operation{http.MethodPost: item.Post, http.MethodGet: item.Get, http.MethodDelete: item.Delete} {
			if op == nil {
				continue
			}
			for _, prm := range op.Parameters {
				if prm.Value.In != "header" {
					continue
				}
				w := f.sendHeader(t, method, p, op, prm.Value.Name)
				var e struct{ Code int }
				_ = json.Unmarshal([]byte(w.body), &e)
				switch {
				case w.status == 404:
					continue
				case w.status == http.StatusPreconditionFailed && e.Code == 20412, w.refused(prm.Value.Name):
					served[op.OperationID] = true
				default:
					t.Errorf("%s header %s (stale): %d %s; want 412 20412 or refused by name", op.OperationID, prm.Value.Name, w.status, w.body)
				}
			}
		}
	}
}

// sendHeader makes one request to op with header name set to a value no
// resource has, and a form of what op requires.
func (f *walkFixture) sendHeader(t *testing.T, method, path string, op *openapi3.Operation, name string) walked {
	t.Helper()
	v := url.Values{}
	if op.RequestBody != nil {
		if mt := op.RequestBody.Value.Content.Get("application/x-www-form-urlencoded"); mt != nil {
			for _, req := range mt.Schema.Value.Required {
				v.Set(req, f.value(req, mt.Schema.Value.Properties[req].Value))
			}
		}
	}
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(v.Encode())
	}
	req, err := http.NewRequest(method, f.h.srv.URL+f.path(path), body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set(name, `"walk-stale"`)
	req.SetBasicAuth(accountSid, authToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return walked{resp.StatusCode, string(b)}
}

// checkFilters shows that a list's query parameter the emulator accepted
// is carried out: set to a value that matches fewer rows than the list
// holds, the answer is a 400 or a shorter list. A parameter read and
// ignored fails here. Only lists (answers with meta) can be checked so.
func (f *walkFixture) checkFilters(t *testing.T, path string, op *openapi3.Operation, fld field) {
	t.Helper()
	u := f.h.srv.URL + f.path(path)
	count := func(query string) (int, int) {
		resp, body, err := rawRequest(t, http.DefaultClient, http.MethodGet, u+query, nil)
		if err != nil {
			t.Fatal(err)
		}
		var page map[string]json.RawMessage
		_ = json.Unmarshal([]byte(body), &page)
		var meta struct{ Key string }
		if json.Unmarshal(page["meta"], &meta) != nil || meta.Key == "" {
			return resp.StatusCode, -1
		}
		var rows []json.RawMessage
		_ = json.Unmarshal(page[meta.Key], &rows)
		return resp.StatusCode, len(rows)
	}
	if statisticsFigureParam(op.OperationID, fld.name) {
		return // chooses what each row counts, not which rows (statistics_test.go)
	}
	_, all := count("")
	if all < 1 || fld.name == "PageSize" && all < 2 {
		return // not a list, or too short to show this filter
	}
	status, n := count("?" + url.Values{fld.name: {nothing(fld.name, fld.schema)}}.Encode())
	if status != 400 && n >= all {
		t.Errorf("%s %s=%s: %d rows of %d; accepted, but the answer is as without it (read and ignored?)",
			op.OperationID, fld.name, nothing(fld.name, fld.schema), n, all)
	}
}

// statisticsFigureParam reports whether name is a parameter of a statistics
// list that sets the window or the figures of every row (an EndDate long
// past is valid and leaves every queue listed, counting nothing), not a
// filter of its rows; statistics_test.go checks each takes effect.
func statisticsFigureParam(op, name string) bool {
	return strings.HasSuffix(op, "Statistics") &&
		slices.Contains([]string{"Minutes", "StartDate", "EndDate", "TaskChannel", "SplitByWaitTime"}, name)
}

// nothing is a value of a list filter that leaves out some of the
// fixture's rows.
func nothing(name string, s *openapi3.Schema) string {
	switch name {
	case "PageSize", "Available":
		return map[string]string{"PageSize": "1", "Available": "false"}[name]
	case "HasAddons":
		return "true" // the emulator's tasks have none
	case "Page", "Priority":
		return "99"
	case "AssignmentStatus", "ReservationStatus":
		return "canceled"
	case "EvaluateTaskAttributes", "TargetWorkersExpression":
		return "1==2"
	case "EvaluateWorkerAttributes":
		return "{}" // the tutorial's queues each want a language
	case "Minutes":
		return "0"
	case "StartDate":
		return "2099-01-01T00:00:00Z"
	case "EndDate":
		return "2000-01-01T00:00:00Z"
	}
	if v := schemaValue(s); strings.HasSuffix(v, strings.Repeat("0", 32)) {
		return v // a SID of the right kind that nothing has
	}
	return "walk-nothing"
}

type field struct {
	name   string
	schema *openapi3.Schema
}

// requestFields are a POST's form fields or a GET's query parameters.
func requestFields(op *openapi3.Operation, method string) []field {
	var out []field
	if method == http.MethodGet {
		for _, p := range op.Parameters {
			if p.Value.In == "query" {
				out = append(out, field{p.Value.Name, p.Value.Schema.Value})
			}
		}
		return out
	}
	if op.RequestBody == nil {
		return nil
	}
	mt := op.RequestBody.Value.Content.Get("application/x-www-form-urlencoded")
	if mt == nil || mt.Schema == nil {
		return nil
	}
	for name, s := range mt.Schema.Value.Properties {
		out = append(out, field{name, s.Value})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// send makes one request to operation op setting fld, plus what op
// requires.
func (f *walkFixture) send(t *testing.T, method, path string, op *openapi3.Operation, fld field) walked {
	t.Helper()
	u := f.h.srv.URL + f.path(path)
	v := url.Values{}
	v.Set(fld.name, f.value(fld.name, fld.schema))
	var resp *http.Response
	var body string
	var err error
	if method == http.MethodGet {
		resp, body, err = rawRequest(t, http.DefaultClient, method, u+"?"+v.Encode(), nil)
	} else {
		if mt := op.RequestBody.Value.Content.Get("application/x-www-form-urlencoded"); mt != nil {
			for _, req := range mt.Schema.Value.Required {
				if req != fld.name {
					v.Set(req, f.value(req, mt.Schema.Value.Properties[req].Value))
				}
			}
		}
		resp, body, err = rawRequest(t, http.DefaultClient, method, u, v)
	}
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	return walked{resp.StatusCode, body}
}

// The workflow Configuration keys TaskRouter documents, each carried out
// (201) or refused by its path; a misspelt one is refused by its path.
// Sources: twilio.com/docs/taskrouter/workflow-configuration (task_routing,
// filters, filter_friendly_name, expression, targets, queue, priority,
// timeout, default_filter); …/workflow-configuration/known-agent-routing
// (known_worker_sid, known_worker_friendly_name); …/worker-presence
// (skip_if); twilio-java's WorkflowRuleTarget (order_by).
func TestWorkflowConfigurationKeysImplementedOrRefused(t *testing.T) {
	f := newWalkFixture(t)
	q := f.queue
	target := func(extra string) string {
		return `{"task_routing":{"filters":[{"filter_friendly_name":"f","expression":"1==1","targets":[{"queue":"` + q + `"},{"queue":"` + q + `"` + extra + `}]}],"default_filter":{"queue":"` + q + `"}}}`
	}
	for _, c := range []struct {
		key, config string
		refusedAt   string // "": carried out
	}{
		{"task_routing, filters, filter_friendly_name, expression, targets, queue, default_filter", target(""), ""},
		{"priority", target(`,"priority":2`), ""},
		{"timeout", target(`,"timeout":30`), ""},
		{"target expression", target(`,"expression":"1==1"`), ""},
		// Carried out in targets.go; targets_test.go shows their effect.
		{"order_by", target(`,"order_by":"worker.level DESC"`), ""},
		{"skip_if", target(`,"skip_if":"workers.available == 0"`), ""},
		{"known_worker_sid", target(`,"known_worker_sid":"task.worker"`), ""},
		{"known_worker_friendly_name", target(`,"known_worker_friendly_name":"task.agent"`), ""},
		{"misspelt in a target", target(`,"ordre_by":"x"`), "task_routing.filters[0].targets[1].ordre_by"},
		{"misspelt in a filter", `{"task_routing":{"filters":[{"expresion":"1==1","targets":[{"queue":"` + q + `"}]}]}}`, "task_routing.filters[0].expresion"},
		{"misspelt in default_filter", `{"task_routing":{"default_filter":{"queue":"` + q + `","timout":5}}}`, "task_routing.default_filter.timout"},
		{"misspelt in task_routing", `{"task_routing":{"filter":[],"default_filter":{"queue":"` + q + `"}}}`, "task_routing.filter"},
		{"misspelt at the top", `{"task_routing":{"default_filter":{"queue":"` + q + `"}},"taskrouting":{}}`, "taskrouting"},
	} {
		resp, body, err := postForm(t, http.DefaultClient, f.h.srv.URL+"/v1/Workspaces/"+f.ws+"/Workflows",
			url.Values{"FriendlyName": {f.value("FriendlyName", nil)}, "Configuration": {c.config}})
		if err != nil {
			t.Fatal(err)
		}
		want := "Invalid Configuration: key " + c.refusedAt + " is not supported by the emulator"
		switch {
		case c.refusedAt == "" && resp.StatusCode != 201:
			t.Errorf("%s: %d %s, want 201", c.key, resp.StatusCode, body)
		case c.refusedAt != "" && (resp.StatusCode != 400 || !strings.Contains(body, want)):
			t.Errorf("%s: %d %s, want 400 %q", c.key, resp.StatusCode, body, want)
		}
	}
}

// A refused create or update changes nothing, and AllowUnsupported turns
// each refusal into acceptance with a warning naming what was ignored.
func TestUnsupportedRefusedOrWarned(t *testing.T) {
	cfg := func(q string) string {
		return `{"task_routing":{"filters":[{"expression":"1==1","targets":[{"queue":"` + q + `","ordre_by":"x"}]}]}}`
	}
	for _, lax := range []bool{false, true} {
		t.Run(fmt.Sprint("AllowUnsupported=", lax), func(t *testing.T) {
			buf := &lockedBuffer{}
			log := zerolog.New(buf)
			h := newHarness(t, emulator.Options{Log: &log, AllowUnsupported: lax})
			l := tutorial(t, h, newApp(t, answerAlways(`{}`)), nil)
			base := h.srv.URL + "/v1/Workspaces/" + l.Workspace
			var q string
			for _, sid := range l.TaskQueues {
				q = sid
			}
			for _, c := range []struct {
				what, url string
				form      url.Values
				named     string
			}{
				{"unknown form parameter", base + "/Workers/" + l.Workers["Alice"], url.Values{"FriendlyName": {"Alicia"}, "FriendlyNme": {"x"}}, "FriendlyNme"},
				{"Twilio's, not carried out", base + "/TaskChannels", url.Values{"FriendlyName": {"C"}, "UniqueName": {"c"}, "ChannelOptimizedRouting": {"true"}}, "ChannelOptimizedRouting"},
				{"a value not carried out", h.srv.URL + "/v1/Workspaces", url.Values{"FriendlyName": {"T"}, "Template": {"FIFO"}}, "Template=FIFO"},
				{"configuration key", base + "/Workflows", url.Values{"FriendlyName": {"W"}, "Configuration": {cfg(q)}}, "task_routing.filters[0].targets[0].ordre_by"},
				{"unread query parameter", base + "/Workers?Orderng=x", nil, "Orderng"},
				{"an Ordering not carried out", base + "/Workers?Ordering=DateCreated:asc", nil, "Ordering=DateCreated:asc"},
			} {
				method := http.MethodPost
				if c.form == nil {
					method = http.MethodGet
				}
				resp, body, err := rawRequest(t, http.DefaultClient, method, c.url, c.form)
				if err != nil {
					t.Fatal(err)
				}
				ok := resp.StatusCode/100 == 2
				warned := strings.Contains(buf.String(), c.named)
				if lax != ok || lax != warned || !lax && !strings.Contains(body, c.named+" is not supported by the emulator") {
					t.Errorf("%s: %d %s; warned %v; want refused by name unless AllowUnsupported, then 2xx and a warning", c.what, resp.StatusCode, body, warned)
				}
			}
			wk, err := h.api.FetchWorker(l.Workspace, l.Workers["Alice"])
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]string{false: "Alice", true: "Alicia"}[lax]; str(wk.FriendlyName) != want {
				t.Errorf("worker after the update with FriendlyNme: %q, want %q (a refused update has no effect)", str(wk.FriendlyName), want)
			}
		})
	}
}

// Reason is what a task's cancel or completion is recorded with (Twilio:
// "The reason that the Task was canceled or completed"); sent without
// AssignmentStatus canceled or completed it would have no effect, so it is
// refused by name, and accepted with a warning under AllowUnsupported.
func TestTaskReasonOnlyWithCancelOrComplete(t *testing.T) {
	for _, lax := range []bool{false, true} {
		t.Run(fmt.Sprint("AllowUnsupported=", lax), func(t *testing.T) {
			buf := &lockedBuffer{}
			log := zerolog.New(buf)
			h := newHarness(t, emulator.Options{Log: &log, AllowUnsupported: lax})
			l := tutorial(t, h, newApp(t, answerAlways(`{}`)), nil)
			tk := h.createTask(l.Workspace, l.Workflows["Tutorial Workflow"], `{"n":1}`)
			u := h.srv.URL + "/v1/Workspaces/" + l.Workspace + "/Tasks/" + *tk.Sid
			resp, body, err := postForm(t, http.DefaultClient, u, url.Values{"Reason": {"customer hung up"}})
			if err != nil {
				t.Fatal(err)
			}
			warned := strings.Contains(buf.String(), "Reason")
			if lax != (resp.StatusCode == 200) || lax != warned || !lax && !strings.Contains(body, "Reason") {
				t.Errorf("Reason alone: %d %s; warned %v; want refused naming Reason unless AllowUnsupported, then 200 and a warning", resp.StatusCode, body, warned)
			}
			resp, body, err = postForm(t, http.DefaultClient, u, url.Values{"Reason": {"customer hung up"}, "AssignmentStatus": {"canceled"}})
			if err != nil || resp.StatusCode != 200 || !strings.Contains(body, `"reason":"customer hung up"`) {
				t.Errorf("Reason with AssignmentStatus canceled: %d %s %v, want 200 with the reason", resp.StatusCode, body, err)
			}
		})
	}
}
