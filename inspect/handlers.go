package inspect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/assignd/assignd/async"
	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/policy/rules"
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
		if f.Limit, err = strconv.Atoi(s); err != nil || f.Limit < 1 || f.Limit > decisionlog.MaxQueryLimit {
			return f, fmt.Errorf("limit: want 1 to %d, got %q", decisionlog.MaxQueryLimit, s)
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
	Replayed string // which rules the replay used, when not the policy in force
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

// redactedFields names the fields of a stored instruction that the
// decision log redacted.
func redactedFields(instruction json.RawMessage) []string {
	var fields map[string]any
	if json.Unmarshal(instruction, &fields) != nil {
		return nil
	}
	var out []string
	for k, v := range fields {
		if v == policy.Redacted {
			out = append(out, k)
		}
	}
	return out
}

func (in *inspector) detailData(r *http.Request, e decisionlog.Entry) detailPage {
	page := detailPage{Entry: e, Policy: in.policyView()}
	if in.o.Jobs != nil && e.Async && e.ReservationSid != "" {
		jobs, err := in.o.Jobs.Jobs(r.Context(), e.ReservationSid)
		if err != nil {
			page.JobsErr = err.Error()
		}
		// The job keeps the instruction as sent; show it as the log kept
		// it: the fields the entry has redacted, and secrets, redacted.
		redacted := redactedFields(e.InstructionJSON)
		for i := range jobs {
			jobs[i].Instruction = policy.RedactInstructionJSON(jobs[i].Instruction, redacted)
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

// MaxReplayPolicy bounds a rules file sent for replay: about ten times the
// example policy, and small enough that compiling one (which the decision
// deadline does not cover) stays well under a second.
const MaxReplayPolicy = 64 << 10

// errTooLarge is a rules file over MaxReplayPolicy: 413.
var errTooLarge = fmt.Errorf("the rules are larger than %d KiB", MaxReplayPolicy>>10)

// replayStatus is the status of a replay that failed with err.
func replayStatus(err error) int {
	if errors.Is(err, errTooLarge) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

// MaxReplays is how many replays run at once. Each may compile a rules file
// and spend a decision deadline of CPU, on a machine whose callbacks come
// first; the rest are refused (503, Retry-After), not queued.
const MaxReplays = 2

// serverCostLimit is the most a rules file sent for replay may spend per
// expression: the cost limit of the policy in force, which is what a live
// callback may spend, or DefaultCostLimit when that is not a rules file.
func serverCostLimit(p policy.Policy) uint64 {
	if c, ok := p.(interface{ CostLimit() uint64 }); ok {
		return c.CostLimit()
	}
	return rules.DefaultCostLimit
}

// replayPolicy is the policy a replay request picks: the policy in force,
// or a rules file sent with the request and compiled in memory. Never a
// path: the inspector reads no file a request names. The form sends it as
// an uploaded file (policy_file) or as text (policy); the JSON API as the
// request body itself. name says which, for the page.
func (in *inspector) replayPolicy(w http.ResponseWriter, r *http.Request) (p policy.Policy, name string, err error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var data []byte
	name = "policy sent with the request"
	switch ct {
	case "multipart/form-data", "application/x-www-form-urlencoded":
		var formName string
		if data, formName, err = formPolicy(w, r); err != nil {
			return nil, "", err
		}
		if formName != "" {
			name = formName
		}
	default:
		if data, err = readPolicy(r.Body); err != nil {
			return nil, "", err
		}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return in.o.Policy.Policy(), "", nil
	}
	rp, err := rules.Parse(name, data, rules.MaxCostLimit(serverCostLimit(in.o.Policy.Policy())))
	if err != nil {
		// The text is the sender's own, so the problems may quote it.
		return nil, name, fmt.Errorf("not a valid rules file: %w", err)
	}
	return rp, name, nil
}

// formPolicy reads the rules a form sends: an uploaded file (policy_file)
// or pasted text (policy); none when the form sends neither.
func formPolicy(w http.ResponseWriter, r *http.Request) (data []byte, name string, err error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	r.Body = http.MaxBytesReader(w, r.Body, MaxReplayPolicy+64<<10) // room for the form's other parts
	if ct == "multipart/form-data" {
		err = r.ParseMultipartForm(MaxReplayPolicy + 64<<10)
	} else {
		err = r.ParseForm()
	}
	if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
		return nil, "", errTooLarge
	}
	if err != nil {
		return nil, "", fmt.Errorf("read the form: %w (a rules file may be at most %d KiB)", err, MaxReplayPolicy>>10)
	}
	if f, hdr, ferr := r.FormFile("policy_file"); ferr == nil {
		defer f.Close()
		if data, err = readPolicy(f); err != nil {
			return nil, "", err
		}
		if len(bytes.TrimSpace(data)) > 0 {
			return data, "uploaded " + hdr.Filename, nil
		}
	} else if r.PostForm.Get("policy_file") != "" {
		// A text value where a file belongs (a browser's empty file input
		// sends an empty one): the old form took a path here.
		return nil, "", errors.New("policy_file is a file upload, not a path: the inspector reads no file on the server; send the rules themselves")
	}
	if text := r.PostForm.Get("policy"); strings.TrimSpace(text) != "" {
		if len(text) > MaxReplayPolicy {
			return nil, "", errTooLarge
		}
		return []byte(text), "rules pasted in the form", nil
	}
	return nil, "", nil
}

// readPolicy reads at most MaxReplayPolicy bytes and refuses more.
func readPolicy(rd io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(rd, MaxReplayPolicy+1))
	if err != nil {
		return nil, fmt.Errorf("read the rules: %w", err)
	}
	if len(data) > MaxReplayPolicy {
		return nil, errTooLarge
	}
	return data, nil
}

// doReplay replays e with the policy the request picks.
func (in *inspector) doReplay(w http.ResponseWriter, r *http.Request, e *decisionlog.Entry) (Replay, string, error) {
	p, name, err := in.replayPolicy(w, r)
	if err != nil {
		return Replay{}, name, err
	}
	rep, err := replayEntry(r.Context(), p, e, in.o.DecisionDeadline)
	if n, ok := p.(interface{ CostLimitNote() string }); ok && n.CostLimitNote() != "" {
		rep.Note = strings.TrimPrefix(rep.Note+"; "+n.CostLimitNote()+" (the policy in force's)", "; ")
	}
	return rep, name, err
}

func (in *inspector) replayPage(w http.ResponseWriter, r *http.Request) {
	if !in.replays.take(w, nil) {
		return
	}
	defer in.replays.release()
	e, ok := in.entry(w, r)
	if !ok {
		return
	}
	page := in.detailData(r, e)
	rep, name, err := in.doReplay(w, r, &e)
	page.Replayed = name
	status := http.StatusOK
	if err != nil {
		rep, status = Replay{Error: err.Error(), Policy: name}, replayStatus(err)
	}
	page.Replay = &rep
	in.render(w, status, "detail.html", page)
}

func (in *inspector) apiReplay(w http.ResponseWriter, r *http.Request) {
	if !in.replays.take(w, nil) {
		return
	}
	defer in.replays.release()
	e, ok := in.entry(w, r)
	if !ok {
		return
	}
	rep, _, err := in.doReplay(w, r, &e)
	if err != nil {
		writeJSON(w, replayStatus(err), map[string]string{"error": err.Error()})
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

// noEmulator answers the emulator's routes when this process runs none:
// production, or development pointed at another TaskRouter (an `assignd
// emulator` elsewhere, or Twilio itself).
const noEmulator = "no in-process emulator: `assignd dev` runs one unless TWILIO_API_BASE_URL or Twilio credentials point it at another TaskRouter"

func (in *inspector) apiEmulator(w http.ResponseWriter, r *http.Request) {
	if in.o.Emulator == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": noEmulator})
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
		http.Error(w, noEmulator, http.StatusNotFound)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	in.render(w, http.StatusOK, "emulator", v)
}

func (in *inspector) setActivity(w http.ResponseWriter, r *http.Request) {
	if in.o.Emulator == nil {
		http.Error(w, noEmulator, http.StatusNotFound)
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
// liveLookBack is how far back, by callback time, the live feed looks
// again for entries it has not sent. IDs are assigned at insert, so on
// PostgreSQL a slow commit, or another instance's, makes a lower ID visible
// after higher ones were sent: reading only "id > last sent" would skip it.
// An entry committed later than this after its callback arrived is not
// streamed (it is in the list on reload).
const liveLookBack = 5 * time.Second

func (in *inspector) events(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// A reconnecting EventSource says where it stopped.
	if s := r.Header.Get("Last-Event-ID"); s != "" {
		if id, err := strconv.ParseInt(s, 10, 64); err == nil && id > 0 {
			f.AfterID = id
		}
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
	feed := liveFeed{in: in, w: w, f: f, cursor: f.AfterID, seen: map[int64]time.Time{}}
	lookBack := true
	for {
		changed := in.o.Log.Changed()
		n, err := feed.poll(r.Context(), lookBack)
		if err != nil {
			if r.Context().Err() == nil {
				in.o.Logger.Warn().Err(err).Msg("inspector: live stream failed")
			}
			return
		}
		if n > 0 {
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
			lookBack = false // this instance's batch: new IDs
		case <-tick.C:
			lookBack = true // and what other instances or slow commits added
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
}

// liveFeed is one stream's position: the highest ID sent, and the IDs sent
// within the look-back, so an entry is sent once.
type liveFeed struct {
	in     *inspector
	w      io.Writer
	f      decisionlog.Filter
	cursor int64
	seen   map[int64]time.Time
}

// poll sends, oldest first, the entries after the cursor and, with
// lookBack, those of the last liveLookBack not sent yet; it pages until a
// page comes back short, so a burst larger than a page leaves no hole.
func (lf *liveFeed) poll(ctx context.Context, lookBack bool) (int, error) {
	const page = decisionlog.MaxQueryLimit
	q := lf.f
	q.Oldest, q.Limit = true, page
	q.AfterID = lf.cursor
	if lookBack {
		since := time.Now().Add(-liveLookBack)
		if since.After(q.Since) {
			q.Since = since
		}
		q.AfterID = 0
	}
	sent := 0
	var buf bytes.Buffer
	for {
		entries, err := lf.in.o.Log.Query(ctx, q)
		if err != nil {
			return sent, err
		}
		for _, e := range entries {
			if _, dup := lf.seen[e.ID]; dup {
				continue
			}
			buf.Reset()
			if err := lf.in.tmpl.ExecuteTemplate(&buf, "row", e); err != nil {
				return sent, fmt.Errorf("render row: %w", err)
			}
			fmt.Fprintf(lf.w, "id: %d\nevent: decision\n", e.ID)
			for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				fmt.Fprintf(lf.w, "data: %s\n", line)
			}
			if _, err := fmt.Fprint(lf.w, "\n"); err != nil {
				return sent, err
			}
			sent++
			lf.seen[e.ID] = e.Time
			lf.cursor = max(lf.cursor, e.ID)
		}
		if len(entries) < page {
			break
		}
		q.AfterID = entries[len(entries)-1].ID
	}
	// Forget what the look-back can no longer return.
	horizon := time.Now().Add(-2 * liveLookBack)
	for id, at := range lf.seen {
		if at.Before(horizon) {
			delete(lf.seen, id)
		}
	}
	return sent, nil
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
