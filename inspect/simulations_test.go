package inspect_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/assignd/assignd/admin"
	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/inspect"
	"github.com/assignd/assignd/internal/servicetest"
	"github.com/assignd/assignd/internal/testwait"
	"github.com/assignd/assignd/whatif/report"
	"github.com/assignd/assignd/whatif/report/reporttest"
)

// simulateJSON is what `assignd simulate -json` writes for reports: one
// document, or a list of them.
func simulateJSON(t *testing.T, reports ...report.Report) []byte {
	t.Helper()
	var v any = reports
	if len(reports) == 1 {
		v = reports[0]
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// multipartReport is the page's form uploading data as the file name.
func multipartReport(t *testing.T, name string, data []byte) (string, io.Reader) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField("note", "a field before the file"); err != nil {
		t.Fatal(err)
	}
	fw, err := mw.CreateFormFile("report", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	return mw.FormDataContentType(), &buf
}

// The Simulations page is linked from every page; an uploaded `simulate
// -json` file comes back drawn inside the inspector (charts, legend, the
// summary table, its stylesheet served); the API answers the standalone
// page for the same JSON.
func TestSimulationsUpload(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", nil)
	if s, page := get(t, h.Admin+"/"); s != 200 || !strings.Contains(page, `href="/admin/simulations"`) {
		t.Fatalf("the index does not link the Simulations page: %d", s)
	}
	s, page := get(t, h.Admin+"/simulations")
	if s != 200 || !strings.Contains(page, `enctype="multipart/form-data"`) || !strings.Contains(page, `name="report"`) ||
		!strings.Contains(page, fmt.Sprintf("at most %d MiB, %d policies", report.MaxBytes>>20, report.MaxReports)) {
		t.Fatalf("the Simulations page: %d %s", s, page)
	}
	if strings.Contains(page, `id="simulation-report"`) {
		t.Error("a report drawn before any upload")
	}

	two := simulateJSON(t, reporttest.TwoPolicies(10)...)
	ct, body := multipartReport(t, "day.json", two)
	s, page = post(t, h.Admin+"/simulations", ct, body)
	if s != 200 {
		t.Fatalf("upload: %d %s", s, page)
	}
	for _, want := range []string{`id="simulation-report"`, `<code id="simulation-name">day.json</code>`,
		`id="chart-tasks"`, `id="chart-waits"`, `id="chart-occupancy"`, `<path class="line p0 m0"`, `<path class="line p1 m2"`,
		`>A old.yaml</text>`, `>B new.yaml</text>`, `<table class="report-table">`, `<th>B − A</th>`, `-6.5 s <span class="ci">± 2.7 s</span>`,
		`/admin/static/report.css`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page after the upload lacks %s", want)
		}
	}
	if strings.Contains(page, "<style") || strings.Contains(page, "style=") {
		t.Error("the page carries inline styles, which the admin CSP forbids")
	}
	s, css := get(t, h.Admin+"/static/report.css")
	if s != 200 || css != report.Stylesheet() {
		t.Errorf("report.css: %d, %d bytes, want the report's stylesheet", s, len(css))
	}

	// The API: the JSON as the body, one document or a list.
	for name, data := range map[string][]byte{"list": two, "document": simulateJSON(t, reporttest.Day("one.yaml", 1, 0))} {
		resp, err := http.Post(h.Admin+"/api/simulations", "application/json", bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" ||
			!strings.HasPrefix(string(b), "<!doctype html>") || !strings.Contains(string(b), "<style>") || !strings.Contains(string(b), `<svg viewBox=`) {
			t.Errorf("API with a %s: %d %s %.200s", name, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
	}
}

// Uploads are refused with a status saying why: 413 over report.MaxBytes
// (however sent), 415 for a URL-encoded form, 400 with Decode's error.
func TestSimulationsRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", nil)
	api, page := h.Admin+"/api/simulations", h.Admin+"/simulations"
	huge := append([]byte(`{"offered": 1, "policy": "`), bytes.Repeat([]byte("x"), report.MaxBytes)...)
	huge = append(huge, `"}`...)
	tooLarge := fmt.Sprintf("larger than %d MiB", report.MaxBytes>>20)
	if s, body := post(t, api, "application/json", bytes.NewReader(huge)); s != http.StatusRequestEntityTooLarge || !strings.Contains(body, tooLarge) {
		t.Errorf("API, %d bytes: %d %s", len(huge), s, body)
	}
	// Without a Content-Length the body is read up to the bound.
	if s, body := post(t, api, "application/json", io.MultiReader(bytes.NewReader(huge))); s != http.StatusRequestEntityTooLarge || !strings.Contains(body, tooLarge) {
		t.Errorf("API, %d bytes chunked: %d %s", len(huge), s, body)
	}
	// Far over, with a Content-Length: refused before reading the body.
	if s, body := post(t, api, "application/json", bytes.NewReader(bytes.Repeat(huge, 2))); s != http.StatusRequestEntityTooLarge || !strings.Contains(body, tooLarge) {
		t.Errorf("API, %d bytes: %d %s", 2*len(huge), s, body)
	}
	ct, mp := multipartReport(t, "huge.json", huge)
	if s, body := post(t, page, ct, mp); s != http.StatusRequestEntityTooLarge || !strings.Contains(body, tooLarge) {
		t.Errorf("page, %d bytes: %d %.300s", len(huge), s, body)
	}
	if s, body := postForm(t, api, url.Values{"report": {"{}"}}, nil); s != http.StatusUnsupportedMediaType || !strings.Contains(body, "multipart/form-data") {
		t.Errorf("URL-encoded form: %d %s", s, body)
	}

	nine := simulateJSON(t, append(reporttest.TwoPolicies(1), reporttest.TwoPolicies(1)[0], reporttest.TwoPolicies(1)[0],
		reporttest.TwoPolicies(1)[0], reporttest.TwoPolicies(1)[0], reporttest.TwoPolicies(1)[0], reporttest.TwoPolicies(1)[0],
		reporttest.TwoPolicies(1)[0])...)
	for name, c := range map[string]struct{ body, want string }{
		"not JSON":      {"offered: 3", "report: not a report"},
		"not a report":  {`{"rules": []}`, `no \"offered\"`},
		"nine reports":  {string(nine), fmt.Sprintf("more than %d reports", report.MaxReports)},
		"syntax":        {"[{\"offered\": 1},\n{\"offered\": }]", "line 2"},
		"bad interval":  {`{"offered": 1, "series": {"offered": [1, 2]}}`, "series.interval_s is 0"},
		"empty":         {"", "report: empty"},
		"wrong type":    {`{"offered": "many"}`, "cannot unmarshal string"},
		"empty list":    {"[]", "empty list"},
		"negative runs": {`{"offered": 1, "runs": -1}`, "runs -1"},
		"bad threshold": {`{"offered": 1, "service_level": {"soon": 0.5}}`, `threshold \"soon\"`},
	} {
		if s, body := post(t, api, "application/json", strings.NewReader(c.body)); s != http.StatusBadRequest || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s, want 400 with %q", name, s, body, c.want)
		}
	}
	// The page says it too, with the file's name.
	ct, mp = multipartReport(t, "replay.json", []byte(`{"changed": 3}`))
	if s, body := post(t, page, ct, mp); s != http.StatusBadRequest || !strings.Contains(body, `id="simulation-error"><code>replay.json</code>: report: no &#34;offered&#34;`) {
		t.Errorf("page, not a report: %d %.2000s", s, body)
	}
	ct, mp = multipartValue(t, "note", "no file")
	if s, body := post(t, page, ct, mp); s != http.StatusBadRequest || !strings.Contains(body, `no file in the field &#34;report&#34;`) {
		t.Errorf("page, no file: %d %.2000s", s, body)
	}
}

// simulationsServer serves the inspector as newHarness does, and returns
// its render slots.
func simulationsServer(t *testing.T) (adminURL string, slots chan struct{}) {
	adminURL, slots, _ = simulationsServerSlots(t)
	return adminURL, slots
}

// simulationsServerSlots is simulationsServer with the upload slots too.
func simulationsServerSlots(t *testing.T) (adminURL string, renders, uploads chan struct{}) {
	t.Helper()
	env := servicetest.New(t, "sqlite", decisionlog.ModeFull, decisionlog.Options{})
	in, renders, uploads, err := inspect.NewWithSlots(inspect.Options{Log: env.Log, Policy: inspect.NewPolicyStatus(env.Current), DecisionDeadline: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	handler, err := admin.New(ctx, admin.Options{Inspector: in, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return srv.URL + "/admin", renders, uploads
}

// With MaxRenders reports being drawn, the next upload is refused with 429
// and Retry-After, and drawn once a slot is free.
func TestSimulationsRendersAreLimited(t *testing.T) {
	t.Parallel()
	base, slots := simulationsServer(t)
	for range inspect.MaxRenders {
		slots <- struct{}{} // as a running render takes it
	}
	data := simulateJSON(t, reporttest.TwoPolicies(1)...)
	for _, u := range []string{base + "/api/simulations", base + "/simulations"} {
		ct, body := "application/json", io.Reader(bytes.NewReader(data))
		if strings.HasSuffix(u, "/admin/simulations") {
			ct, body = multipartReport(t, "day.json", data)
		}
		resp, err := http.Post(u, ct, body)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" ||
			!strings.Contains(string(b), fmt.Sprintf("%d reports are being drawn, the most at once", inspect.MaxRenders)) {
			t.Errorf("%s with every slot taken: %d Retry-After %q %s", u, resp.StatusCode, resp.Header.Get("Retry-After"), b)
		}
	}
	<-slots
	if s, body := post(t, base+"/api/simulations", "application/json", bytes.NewReader(data)); s != 200 {
		t.Errorf("with a slot free: %d %.300s", s, body)
	}
}

// An upload still arriving holds no render slot: with more slow uploads
// open than MaxRenders, a whole one is drawn.
func TestSimulationsSlowUploadHoldsNoSlot(t *testing.T) {
	t.Parallel()
	base, slots := simulationsServer(t)
	u, err := url.Parse(base + "/api/simulations")
	if err != nil {
		t.Fatal(err)
	}
	for range inspect.MaxRenders + 1 {
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"offered\": ", u.Path, u.Host)
	}
	data := simulateJSON(t, reporttest.TwoPolicies(1)...)
	// Whenever the server reads the slow uploads' headers, they must not
	// take a slot: every whole upload is drawn.
	for range 5 {
		if s, body := post(t, u.String(), "application/json", bytes.NewReader(data)); s != 200 {
			t.Fatalf("with %d slow uploads open: %d %.300s", inspect.MaxRenders+1, s, body)
		}
	}
	if !testwait.Until(10*time.Second, func() bool { return len(slots) == 0 }) {
		t.Errorf("%d slots taken with only slow uploads open", len(slots))
	}
}

// slowUpload opens an upload to u that sends its headers and the start of
// its body and then waits: the server is left reading it.
func slowUpload(t *testing.T, u *url.URL) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"offered\": ", u.Path, u.Host)
	return c
}

// With MaxUploads uploads being read, the next is refused with 429 and
// Retry-After before its body is read (the admin listener bounds no
// connections, and each upload may hold report.MaxBytes); once one of
// them ends, an upload is read and drawn again.
func TestSimulationsUploadsAreLimited(t *testing.T) {
	t.Parallel()
	base, _, uploads := simulationsServerSlots(t)
	u, err := url.Parse(base + "/api/simulations")
	if err != nil {
		t.Fatal(err)
	}
	slow := make([]net.Conn, inspect.MaxUploads)
	for i := range slow {
		slow[i] = slowUpload(t, u)
	}
	if !testwait.Until(10*time.Second, func() bool { return len(uploads) == inspect.MaxUploads }) {
		t.Fatalf("%d slow uploads open, %d upload slots taken", inspect.MaxUploads, len(uploads))
	}
	data := simulateJSON(t, reporttest.TwoPolicies(1)...)
	want := fmt.Sprintf("%d uploads are being read, the most at once", inspect.MaxUploads)
	for _, target := range []string{base + "/api/simulations", base + "/simulations"} {
		ct, rd := "application/json", io.Reader(bytes.NewReader(data))
		if strings.HasSuffix(target, "/admin/simulations") {
			ct, rd = multipartReport(t, "day.json", data)
		}
		resp, err := http.Post(target, ct, rd)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" || !strings.Contains(string(b), want) {
			t.Errorf("%s with %d uploads being read: %d Retry-After %q %.300s", target, inspect.MaxUploads, resp.StatusCode, resp.Header.Get("Retry-After"), b)
		}
	}
	_ = slow[0].Close() // the server's read fails, its slot is free
	if !testwait.Until(10*time.Second, func() bool {
		s, _ := post(t, u.String(), "application/json", bytes.NewReader(data))
		return s == 200
	}) {
		t.Errorf("with %d uploads being read, none drawn", inspect.MaxUploads-1)
	}
}
