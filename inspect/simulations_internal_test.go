package inspect

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/assignd/assignd/whatif/report"
	"github.com/assignd/assignd/whatif/report/reporttest"
)

// A report that decodes but cannot be drawn is the server's failure, not
// the upload's: 500, where a report that does not decode is 400. (Drawing
// into memory fails only on a renderer's bug, so the writer here fails.)
func TestSimulationsDrawFailureIsTheServers(t *testing.T) {
	t.Parallel()
	in := &inspector{renders: newLimit(MaxRenders, http.StatusTooManyRequests, 0, "busy")}
	data, err := json.Marshal(reporttest.Day("one.yaml", 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	broken := func(io.Writer, []report.Report) error { return errors.New("template: no such field") }
	_, ok, err := in.decodeAndDraw(httptest.NewRecorder(), data, broken)
	if !ok || err == nil || uploadStatus(err) != http.StatusInternalServerError {
		t.Errorf("a draw failing: ok %v, %v, status %d, want 500", ok, err, uploadStatus(err))
	}
	_, ok, err = in.decodeAndDraw(httptest.NewRecorder(), []byte(`{"rules": []}`), report.WriteBody)
	if !ok || err == nil || uploadStatus(err) != http.StatusBadRequest {
		t.Errorf("not a report: ok %v, %v, status %d, want 400", ok, err, uploadStatus(err))
	}
}
