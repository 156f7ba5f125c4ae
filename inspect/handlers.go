package inspect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/assignd/assignd/async"
	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/handlers"
)

// filterParams are the query parameters that select decisions, on the page
// and in the JSON API alike.
var filterParams = []string{"sid", "reservation", "task", "worker", "rule", "instruction", "result", "since", "until", "limit"}

// parseFilter reads a decisionlog.Filter from the query. Times are RFC 3339
// or, as an HTML datetime-local field sends them, 2006-01-02T15:04 in UTC.
func parseFilter(q url.Values) (decisionlog.Filter, error) {
	f := decisionlog.Filter{
		SID: strings.TrimSpace(q.Get("sid")), ReservationSid: strings.TrimSpace(q.Get("reservation")),
		TaskSid: strings.TrimSpace(q.Get("task")), WorkerSid: strings.TrimSpace(q.Get("worker")),
		Rule: strings.TrimSpace(q.Get("rule")), Instruction: strings.TrimSpace(q.Get("instruction")),
		Result: strings.TrimSpace(q.Get("result")),
	}
	if f.Result != "" && !slices.Contains(handlers.Results(), f.Result) {
		return f, fmt.Errorf("result: want one of %s, got %q", strings.Join(handlers.Results(), ", "), f.Result)
	}
	var err error
	if f.Since, err = parseTime("since", q.Get("since")); err != nil {
		return f, err
	}
	if f.Until, err = parseTime("until", q.Get("until")); err != nil {
		return f, err
	}
	if s := q.Get("limit"); s != "" {
		if f.Limit, err = strconv.Atoi(s); err != nil || f.Limit < 1 || f.Limit > 1000 {
			return f, fmt.Errorf("limit: want 1 to 1000, got %q", s)
		}
	}
	if s := q.Get("after"); s != "" {
		if f.AfterID, err = strconv.ParseInt(s, 10, 64); err != nil || f.AfterID < 0 {
			return f, fmt.Errorf("after: want a decision ID, got %q", s)
		}
	}
	return f, nil
}

func parseTime(name, s string) (time.Time, error) {
	if s = strings.TrimSpace(s); s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%s: want a time such as 2026-11-29T14:02:00Z, got %q", name, s)
}

// filterQuery is the filter's part of the query, to carry into the live
// stream's URL.
func filterQuery(q url.Values) string {
	out := url.Values{}
	for _, k := range filterParams {
		if v := q.Get(k); v != "" {
			out.Set(k, v)
		}
	}
	return out.Encode()
}

type indexPage struct {
	Query       url.Values
	FilterQuery string
	FilterError string
	Entries     []decisionlog.Entry
	NewestID    int64
	Mode        decisionlog.Mode
	Store       string
	Policy      policyView
	Emulator    *emulatorView // nil without an emulator
}

// emulatorView is the emulator section: its state, or why it could not be
// read.
type emulatorView struct {
	State *EmulatorState
	Err   string
}

func (in *inspector) emulatorView(ctx context.Context) *emulatorView {
	if in.o.Emulator == nil {
		return nil
	}
	st, err := in.o.Emulator.State(ctx)
	if err != nil {
		return &emulatorView{Err: err.Error()}
	}
	return &emulatorView{State: &st}
}

func (in *inspector) index(w http.ResponseWriter, r *http.Request) {
	page := indexPage{Query: r.URL.Query(), FilterQuery: filterQuery(r.URL.Query()), Mode: in.o.Log.Mode(), Store: in.o.Log.Store(),
		Policy: in.policyView()}
	f, err := parseFilter(r.URL.Query())
	status := http.StatusOK
	if err != nil {
		page.FilterError, status = err.Error(), http.StatusBadRequest
	} else if page.Entries, err = in.o.Log.Query(r.Context(), f); err != nil {
		in.fail(w, err)
		return
	}
	// The stream starts after the newest entry in the whole log, not the
	// newest matching one, so nothing is sent twice or skipped.
	if latest, err := in.o.Log.Query(r.Context(), decisionlog.Filter{Limit: 1}); err == nil && len(latest) > 0 {
		page.NewestID = latest[0].ID
	}
	page.Emulator = in.emulatorView(r.Context())
	in.render(w, status, "index.html", page)
}

type detailPage struct {
	Entry    decisionlog.Entry
	Jobs     []async.JobReport
	JobsErr  string
	Replay   *Replay
	Replayed string // the policy file asked for, if any
	Policy   policyView
}

func (in *inspector) entry(w http.ResponseWriter, r *http.Request) (decisionlog.Entry, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		http.Error(w, "bad decision ID "+strconv.Quote(r.PathValue("id")), http.StatusBadRequest)
		return decisionlog.Entry{}, false
	}
	e, err := in.o.Log.Get(r.Context(), id)
	if errors.Is(err, decisionlog.ErrNotFound) {
		http.Error(w, fmt.Sprintf("decision %d is not in the log (pruned by retention, or never recorded)", id), http.StatusNotFound)
		return e, false
	}
	if err != nil {
		in.fail(w, err)
		return e, false
	}
	return e, true
}

func (in *inspector) detailData(r *http.Request, e decisionlog.Entry) detailPage {
	page := detailPage{Entry: e, Policy: in.policyView()}
	if in.o.Jobs != nil && e.Async && e.ReservationSid != "" {
		jobs, err := in.o.Jobs.Jobs(r.Context(), e.ReservationSid)
		if err != nil {
			page.JobsErr = err.Error()
		}
		page.Jobs = jobs
	}
	return page
}

func (in *inspector) detail(w http.ResponseWriter, r *http.Request) {
	e, ok := in.entry(w, r)
	if !ok {
		return
	}
	in.render(w, http.StatusOK, "detail.html", in.detailData(r, e))
}

// doReplay replays e with the policy in force, or with the rules file the
// form names.
func (in *inspector) doReplay(r *http.Request, e *decisionlog.Entry) (Replay, string, error) {
	p := in.o.Policy.Policy()
	file := strings.TrimSpace(r.FormValue("policy_file"))
	if file != "" {
		var err error
		if p, err = in.o.LoadPolicy(file); err != nil {
			return Replay{}, file, fmt.Errorf("policy file %s: %w", file, err)
		}
	}
	rep, err := replay(r.Context(), p, e)
	return rep, file, err
}

func (in *inspector) replayPage(w http.ResponseWriter, r *http.Request) {
	e, ok := in.entry(w, r)
	if !ok {
		return
	}
	page := in.detailData(r, e)
	rep, file, err := in.doReplay(r, &e)
	page.Replayed = file
	status := http.StatusOK
	if err != nil {
		rep, status = Replay{Error: err.Error(), Policy: file}, http.StatusBadRequest
	}
	page.Replay = &rep
	in.render(w, status, "detail.html", page)
}

func (in *inspector) apiReplay(w http.ResponseWriter, r *http.Request) {
	e, ok := in.entry(w, r)
	if !ok {
		return
	}
	rep, _, err := in.doReplay(r, &e)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func (in *inspector) apiList(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	entries, err := in.o.Log.Query(r.Context(), f)
	if err != nil {
		in.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"decisions": entries})
}

func (in *inspector) apiDetail(w http.ResponseWriter, r *http.Request) {
	e, ok := in.entry(w, r)
	if !ok {
		return
	}
	page := in.detailData(r, e)
	writeJSON(w, http.StatusOK, map[string]any{"decision": page.Entry, "jobs": page.Jobs, "jobs_error": page.JobsErr})
}

func (in *inspector) apiPolicy(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, in.policyView())
}

func (in *inspector) apiEmulator(w http.ResponseWriter, r *http.Request) {
	if in.o.Emulator == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no emulator: it runs with `assignd dev`"})
		return
	}
	st, err := in.o.Emulator.State(r.Context())
	if err != nil {
		in.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// emulatorSection is the emulator section alone, which the page fetches to
// keep it current without a reload.
func (in *inspector) emulatorSection(w http.ResponseWriter, r *http.Request) {
	v := in.emulatorView(r.Context())
	if v == nil {
		http.Error(w, "no emulator: it runs with `assignd dev`", http.StatusNotFound)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	in.render(w, http.StatusOK, "emulator", v)
}

func (in *inspector) setActivity(w http.ResponseWriter, r *http.Request) {
	if in.o.Emulator == nil {
		http.Error(w, "no emulator: it runs with `assignd dev`", http.StatusNotFound)
		return
	}
	activity := r.FormValue("activity_sid")
	if activity == "" {
		http.Error(w, "activity_sid is required", http.StatusBadRequest)
		return
	}
	if err := in.o.Emulator.SetWorkerActivity(r.Context(), r.PathValue("sid"), activity); err != nil {
		http.Error(w, "set activity: "+err.Error(), http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, in.o.Prefix+"/#emulator", http.StatusSeeOther)
}

// policyView is the policy in force as the page and /api/policy show it.
type policyView struct {
	Source string   `json:"source"`
	Rules  []string `json:"rules"`
	Reload Reload   `json:"last_reload"`
}

func (in *inspector) policyView() policyView {
	p := in.o.Policy.Policy()
	v := policyView{Source: policyName(p), Reload: in.o.Policy.LastReload(), Rules: []string{}}
	if rs, ok := p.(interface{ Rules() []string }); ok {
		v.Rules = rs.Rules()
	}
	return v
}

// events streams new decisions as server-sent events, each an HTML table
// row the page prepends. It wakes when the log commits a batch, and every
// Heartbeat (a keep-alive, and entries another instance wrote to a shared
// PostgreSQL).
func (in *inspector) events(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, ": assignd decisions\n\n"); err != nil {
		return
	}
	_ = rc.Flush()
	tick := time.NewTicker(in.o.Heartbeat)
	defer tick.Stop()
	f.Limit = 1000
	for {
		changed := in.o.Log.Changed()
		entries, err := in.o.Log.Query(r.Context(), f)
		if err != nil {
			if r.Context().Err() == nil {
				in.o.Logger.Warn().Err(err).Msg("inspector: live stream query failed")
			}
			return
		}
		var buf bytes.Buffer
		for i := len(entries) - 1; i >= 0; i-- { // oldest first: the page prepends
			e := entries[i]
			buf.Reset()
			if err := in.tmpl.ExecuteTemplate(&buf, "row", e); err != nil {
				in.o.Logger.Error().Err(err).Msg("inspector: render row")
				return
			}
			fmt.Fprintf(w, "id: %d\nevent: decision\n", e.ID)
			for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				fmt.Fprintf(w, "data: %s\n", line)
			}
			fmt.Fprint(w, "\n")
			f.AfterID = max(f.AfterID, e.ID)
		}
		if len(entries) > 0 {
			if err := rc.Flush(); err != nil {
				return
			}
		}
		select {
		case <-r.Context().Done():
			return
		case <-in.o.Done:
			return
		case <-changed:
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
}

func (in *inspector) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := in.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		in.fail(w, fmt.Errorf("render %s: %w", name, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (in *inspector) fail(w http.ResponseWriter, err error) {
	in.o.Logger.Error().Err(err).Msg("inspector")
	http.Error(w, "inspector: "+err.Error(), http.StatusInternalServerError)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func ago(t time.Time) string {
	d := time.Since(t).Round(time.Second)
	if d < time.Second {
		return "just now"
	}
	return d.String() + " ago"
}

func prettyJSON(b json.RawMessage) string {
	if len(b) == 0 {
		return ""
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return string(b)
	}
	return out.String()
}

func shortSid(s string) string {
	if len(s) <= 12 {
		return s
	}
	return s[:8] + "…" + s[len(s)-4:]
}
