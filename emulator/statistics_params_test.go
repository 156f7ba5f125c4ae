package emulator_test

import (
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	openapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"github.com/assignd/assignd/internal/needs"
)

// Every query parameter of every statistics GET in Twilio's description,
// set against the scripted day, changes the answer from the one without
// it: a parameter the emulator reads but does not honour fails here. The
// fields a window names itself (start_time, end_time) and the url are left
// out of the comparison, so a window parameter must change the figures.
func TestStatisticsParamsTakeEffect(t *testing.T) {
	specPath := needs.TaskRouterSpecIfPresent(t)
	if specPath == "" {
		t.Skip("no TaskRouter OpenAPI description")
	}
	doc, err := openapi3.NewLoader().LoadFromFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	d := runStatsDay(t)
	d.to(95 * time.Second) // the day is 0-50 s: Minutes=1 leaves its start out
	// Bob's voice channel off, so TaskChannel=voice counts fewer workers.
	if _, err := d.h.api.UpdateWorkerChannel(d.ws, d.l.Workers["Bob"], "voice", (&openapi.UpdateWorkerChannelParams{}).SetAvailable(false)); err != nil {
		t.Fatal(err)
	}
	at := func(s int) string { return epoch.Add(time.Duration(s) * time.Second).Format(time.RFC3339) }
	values := map[string]string{
		"Minutes": "1", "StartDate": at(21), "EndDate": at(35), "TaskChannel": "voice", "SplitByWaitTime": "10",
		"TaskQueueSid": d.l.TaskQueues["Customer Care Requests - Spanish"], "TaskQueueName": "Customer Care Requests - Spanish",
	}
	friendly := map[string]string{"ListTaskQueuesStatistics": "Customer Care Requests - Spanish", "FetchWorkerStatistics": "Alice"}
	paths := strings.NewReplacer("{WorkspaceSid}", d.ws, "{TaskQueueSid}", d.queue, "{WorkflowSid}", d.flow, "{WorkerSid}", d.l.Workers["Alice"])
	seen := 0
	for path, item := range doc.Paths.Map() {
		op := item.Get
		if op == nil || !strings.HasSuffix(path, "Statistics") {
			continue
		}
		u := d.h.srv.URL + paths.Replace(path)
		without := statsAnswer(t, u)
		for _, p := range op.Parameters {
			name := p.Value.Name
			if p.Value.In != "query" || name == "PageSize" || name == "Page" || name == "PageToken" {
				continue
			}
			v, ok := values[name]
			if name == "FriendlyName" {
				v, ok = friendly[op.OperationID]
			}
			if !ok {
				t.Errorf("%s %s: no value to try it with", op.OperationID, name)
				continue
			}
			seen++
			if with := statsAnswer(t, u+"?"+url.Values{name: {v}}.Encode()); reflect.DeepEqual(with, without) {
				t.Errorf("%s %s=%s: the same answer as without it (read and not honoured?)", op.OperationID, name, v)
			}
		}
	}
	if seen < 30 {
		t.Fatalf("%d statistics parameters tried: the description's operations were not found", seen)
	}
}

// statsAnswer is a statistics GET's JSON answer without the fields that
// only name the window or the resource.
func statsAnswer(t *testing.T, u string) any {
	t.Helper()
	resp, body := rawGet(t, u)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, body)
	}
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	return strip(v)
}

func strip(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range []string{"start_time", "end_time", "url", "meta"} {
			delete(x, k)
		}
		for k, e := range x {
			x[k] = strip(e)
		}
	case []any:
		for i, e := range x {
			x[i] = strip(e)
		}
	}
	return v
}
