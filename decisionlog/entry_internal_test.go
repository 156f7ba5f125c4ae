package decisionlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"testing"

	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/policy"
)

// TestEntryKeepsTheDocumentValid: the writer trusts attributes the handler
// parsed and checks the others, so whatever a callback carried, the stored
// document decodes (a broken one would fail every query that reads it).
func TestEntryKeepsTheDocumentValid(t *testing.T) {
	t.Parallel()
	good := url.Values{"TaskAttributes": {`{"a":1}`}, "WorkerAttributes": {`{"b":[2]}`}}
	bad := url.Values{"TaskAttributes": {`{"a":`}, "WorkerAttributes": {`[1,2]`}}
	attrErr := fmt.Errorf("malformed attributes: %w", &handlers.AttributeError{Param: "TaskAttributes", Err: errors.New("unexpected end")})
	r := &policy.Reservation{ReservationSid: "WR1", TaskAttributes: map[string]any{}, WorkerAttributes: map[string]any{}}
	for _, c := range []struct {
		name       string
		rec        handlers.CallbackRecord
		task, work string
	}{
		{"answered", handlers.CallbackRecord{Result: handlers.ResultOK, Reservation: r, Form: good}, `{"a":1}`, `{"b":[2]}`},
		{"policy failed", handlers.CallbackRecord{Result: handlers.ResultFallback, Err: errors.New("boom"), Reservation: r, Form: good}, `{"a":1}`, `{"b":[2]}`},
		// Not objects: the raw values are checked; the invalid one is left
		// out (the parsed map is empty), the valid array kept as sent.
		{"malformed attributes", handlers.CallbackRecord{Result: handlers.ResultFallback, Err: attrErr, Reservation: r, Form: bad}, ``, `[1,2]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := &Log{o: Options{Mode: ModeFull}}
			e := l.entry(&c.rec)
			doc := appendPayload(nil, &e)
			var p payload
			if err := json.Unmarshal(doc, &p); err != nil {
				t.Fatalf("stored document does not decode: %v\n%s", err, doc)
			}
			if string(p.TaskAttributes) != c.task || string(p.WorkerAttributes) != c.work {
				t.Fatalf("attributes %s %s, want %s %s", p.TaskAttributes, p.WorkerAttributes, c.task, c.work)
			}
		})
	}
}
