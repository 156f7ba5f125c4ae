package emulator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/assignd/assignd/taskrouter"
)

// Options configure an Emulator.
type Options struct {
	// AccountSid and AuthToken are the account: Basic auth with them is
	// accepted, and callbacks and events are signed with AuthToken, as
	// Twilio signs with the account's primary auth token. Both required.
	AccountSid, AuthToken string
	// APIKeys are further accepted Basic auth pairs: API key SID (SK…) →
	// secret. API key secrets never sign webhooks.
	APIKeys map[string]string
	// Clock drives every timeout; RealClock when nil.
	Clock Clock
	// HTTPClient posts assignment callbacks and events; a plain client when
	// nil. Its own Timeout, if any, applies on top of CallbackTimeout.
	HTTPClient *http.Client
	// CallbackTimeout is how long the assignment callback may take before
	// the fallback URL is tried. Twilio's is 5 s (the default).
	CallbackTimeout time.Duration
	// EventTimeout bounds one event callback; Twilio's is 15 s (the default).
	EventTimeout time.Duration
	// BaseURL is put in the url, links and meta fields of answers
	// ("https://taskrouter.twilio.com" for Twilio); by default the scheme and
	// Host of each request, so any client pointed at the emulator can follow
	// them.
	BaseURL string
	// Latency delays every REST answer, after the request was applied: a
	// client that gives up meanwhile has changed state without learning it.
	Latency time.Duration
	// FaultRate makes that share of requests to FaultEndpoints misbehave at
	// random (soak runs): half 429 with Retry-After 1, a quarter 500 before
	// applying, a quarter 500 after applying.
	FaultRate float64
	// FaultEndpoints are the endpoints FaultRate applies to; by default the
	// two reservation updates.
	FaultEndpoints []Endpoint
	// MaxReservationAttempts cancels a task once it has had this many
	// reservations without being assigned (default 1000).
	MaxReservationAttempts int
	// History is how many events (per workspace), callback attempts and
	// event deliveries are kept for the Events API and inspection (default
	// 10,000); older ones are dropped so long runs stay in bounded memory.
	History int
	// Log receives one line per event and per assignment callback attempt
	// (reservation, URL, status, answer), and the warnings AllowUnsupported
	// gives; nothing is logged when nil.
	Log *zerolog.Logger
	// AllowUnsupported accepts what the emulator does not carry out — a
	// request parameter, a value, a workflow Configuration key — with a
	// warning in Log naming it, instead of refusing it with Twilio's 400
	// 20001 (strict.go), for users who need only the rest.
	AllowUnsupported bool
	// OnEvent, when set, is given every event as it is recorded, in order;
	// OnCallback every assignment callback attempt once its answer has been
	// carried out. They are called with the emulator's lock held: they
	// must return quickly and must not call the emulator.
	OnEvent    func(Event)
	OnCallback func(CallbackAttempt)
}

// Emulator is a TaskRouter: an http.Handler serving the REST API under
// /v1/Workspaces, routing tasks to workers, posting signed assignment
// callbacks and events. It is safe for concurrent use. Call Close to wait
// for the callbacks and events it has started.
type Emulator struct {
	opt    Options
	clock  Clock
	client *http.Client
	mux    *http.ServeMux
	paths  map[string]bool // patterns registered, for the 405 answers

	mu         sync.Mutex // guards everything below
	workspaces table[workspace]
	faults     map[faultKey][]Fault
	callbacks  []CallbackAttempt
	closed     bool
	rows       []row                 // the lifecycle (lifecycle.go); read-only after New
	supported  map[Endpoint][]string // SupportedParams, built once; read-only after New
	fired      map[*row]int          // how often each row ran, for the lifecycle tests

	outbox *outbox // event deliveries, in order
	// inflight counts the assignment callbacks in flight, and quiet is
	// closed when it falls to 0 (Quiet, Close); both guarded by mu.
	inflight int
	quiet    chan struct{}
}

// New returns an empty emulator (no workspaces; see Load and Tutorial).
func New(o Options) (*Emulator, error) {
	if o.AccountSid == "" || o.AuthToken == "" {
		return nil, errors.New("emulator: AccountSid and AuthToken are required")
	}
	if !taskrouter.ValidSid(prefixAccount, o.AccountSid) {
		return nil, fmt.Errorf("emulator: AccountSid: %s, got %q", taskrouter.WantSid(prefixAccount), o.AccountSid)
	}
	if o.Clock == nil {
		o.Clock = RealClock{}
	}
	if o.HTTPClient == nil {
		// Callbacks to one service run concurrently: keep their connections
		// (the default transport keeps 2 per host and dials the rest anew).
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		o.HTTPClient = &http.Client{Transport: tr}
	}
	if o.CallbackTimeout <= 0 {
		o.CallbackTimeout = 5 * time.Second
	}
	if o.EventTimeout <= 0 {
		o.EventTimeout = 15 * time.Second
	}
	if o.FaultEndpoints == nil {
		o.FaultEndpoints = []Endpoint{UpdateTaskReservation, UpdateWorkerReservation}
	}
	if o.MaxReservationAttempts <= 0 {
		o.MaxReservationAttempts = 1000
	}
	if o.History <= 0 {
		o.History = 10000
	}
	if o.Log == nil {
		nop := zerolog.Nop()
		o.Log = &nop
	}
	o.BaseURL = strings.TrimSuffix(o.BaseURL, "/")
	e := &Emulator{
		opt: o, clock: o.Clock, client: o.HTTPClient,
		workspaces: newTable[workspace](), faults: map[faultKey][]Fault{},
		rows: lifecycleRows(), fired: map[*row]int{}, supported: SupportedParams(),
	}
	e.outbox = newOutbox(e)
	e.mux, e.paths = http.NewServeMux(), map[string]bool{}
	e.routes()
	return e, nil
}

// AccountSid returns the emulator's account.
func (e *Emulator) AccountSid() string { return e.opt.AccountSid }

// Close waits for the assignment callbacks and events already started, and
// stops timers, routing and event callbacks from doing anything further.
// The REST API keeps answering (a service draining its REST calls still
// reaches it); stop serving it separately.
func (e *Emulator) Close() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	_ = e.Quiet(context.Background()) // no deadline: it cannot fail
	e.outbox.wait()
	e.client.CloseIdleConnections()
}

func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) { e.mux.ServeHTTP(w, r) }

// handler is one REST operation; it runs with e.mu held and returns the
// status and body to answer, or a Twilio error.
type handler func(c *call) (int, any, *apiError)

// call is one REST request being served.
type call struct {
	r    *http.Request
	base string     // base URL for url/links fields
	ws   *workspace // from {WorkspaceSid}, when the path has one
	lax  bool       // Options.AllowUnsupported: warn instead of refusing
	log  *zerolog.Logger
}

func (c *call) path(k string) string { return c.r.PathValue(k) }

// query is the request's query parameter k; every query read goes through
// it, so what a request sent and no handler read can be refused by name.
func (c *call) query(k string) string { return query(c.r, k) }

// workspaceURL is the workspace's resource URL, which the url and links of
// everything in it extend.
func (c *call) workspaceURL(sid string) string { return c.base + "/v1/Workspaces/" + sid }

func (e *Emulator) handle(ep Endpoint, method, pattern string, h handler) {
	e.mux.HandleFunc(method+" "+pattern, func(w http.ResponseWriter, r *http.Request) {
		e.serve(w, r, ep, h)
	})
	if !e.paths[pattern] {
		// Other methods on a known path: Twilio's JSON 405, not the mux's text.
		e.paths[pattern] = true
		e.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if e.refuse(w, r) {
				return
			}
			writeError(w, &apiError{http.StatusMethodNotAllowed, 20004, "Method not allowed"})
		})
	}
}

// serve runs one REST call with its scripted fault around it. Long because a
// fault acts at four points of one call (before, apply, hold, answer) that
// read best in their order.
func (e *Emulator) serve(w http.ResponseWriter, r *http.Request, ep Endpoint, h handler) {
	if e.refuse(w, r) {
		return
	}
	r, rd := withReads(r)
	c := &call{r: r, base: e.opt.BaseURL, lax: e.opt.AllowUnsupported, log: e.opt.Log}
	if c.base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		c.base = scheme + "://" + r.Host
	}
	sid := lastSid(r)
	if err := bufferBody(r); err != nil {
		writeError(w, err)
		return
	}
	e.mu.Lock()
	e.observeLocked(ep, r) // counted even when a fault stops it: the client did send it
	fault, faulty := e.nextFaultLocked(ep, sid)
	e.mu.Unlock()
	if faulty && fault.Delay > 0 {
		select {
		case <-time.After(fault.Delay):
		case <-r.Context().Done():
			return
		}
	}
	if faulty && !fault.Apply && fault.acts() {
		misbehave(w, fault)
		return
	}

	e.mu.Lock()
	status, body, apiErr := e.run(c, ep, h, rd)
	if faulty && apiErr == nil {
		e.moveOnLocked(c, fault)
	}
	e.mu.Unlock()

	hold := e.opt.Latency
	if faulty {
		hold += fault.AfterApply
	}
	if hold > 0 {
		select {
		case <-time.After(hold):
		case <-r.Context().Done():
			return
		}
	}
	if faulty && apiErr == nil && fault.garbles() {
		garble(w, r, fault, body)
		return
	}
	if faulty && fault.acts() {
		misbehave(w, fault) // applied, but the client never learns it
		return
	}
	switch {
	case apiErr != nil:
		writeError(w, apiErr)
	case status == http.StatusNoContent:
		w.WriteHeader(status)
	default:
		writeJSON(w, status, sendHeaders(w, body))
	}
}

// lastSid is the last SID in the request's path, the resource a scripted
// fault is aimed at ("" for /v1/Workspaces).
func lastSid(r *http.Request) string {
	for _, k := range []string{"Sid", "TaskSid", "WorkerSid", "WorkspaceSid"} {
		if v := r.PathValue(k); v != "" {
			return v
		}
	}
	return ""
}

// run is the handler between the checks of strict.go: what the endpoint
// does not carry out is refused before a create, update or delete applies
// anything, and after a GET (which changes nothing) reads its query.
func (e *Emulator) run(c *call, ep Endpoint, h handler, rd *reads) (int, any, *apiError) {
	if ws := c.path("WorkspaceSid"); ws != "" {
		c.ws = e.workspaces.get(ws)
		if c.ws == nil {
			return 0, nil, errNotFound(c.r.URL.Path)
		}
	}
	if err := e.checkBefore(c, ep); err != nil {
		return 0, nil, err
	}
	status, body, err := h(c)
	if err != nil {
		return status, body, err
	}
	if err := e.checkAfter(c, ep, rd); err != nil {
		return 0, nil, err
	}
	return status, body, nil
}

// maxBody bounds a request body: net/http's own bound on a form body.
const maxBody = 10 << 20

// bufferBody reads r's body into memory before the handler runs under
// e.mu: a client slow to send it must not hold the lock, and so stall
// every other request, while the handler waits for it.
func bufferBody(r *http.Request) *apiError {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return errParam("Invalid body: %v", err)
	}
	if len(raw) > maxBody {
		return errParam("Invalid body: larger than %d bytes", maxBody)
	}
	r.Body = io.NopCloser(bytes.NewReader(raw))
	return nil
}

// refuse answers Twilio's 401 (with its WWW-Authenticate challenge) and
// returns true when r does not carry the account's or an API key's Basic
// auth.
func (e *Emulator) refuse(w http.ResponseWriter, r *http.Request) bool {
	if e.authorized(r) {
		return false
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
	writeError(w, &apiError{http.StatusUnauthorized, 20003, "Authenticate"})
	return true
}

func (e *Emulator) authorized(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	if user == e.opt.AccountSid {
		return pass == e.opt.AuthToken
	}
	secret, ok := e.opt.APIKeys[user]
	return ok && secret != "" && secret == pass
}

func (e *Emulator) randomFault() (Fault, bool) {
	if e.opt.FaultRate <= 0 || rand.Float64() >= e.opt.FaultRate {
		return Fault{}, false
	}
	switch x := rand.Float64(); {
	case x < 0.5:
		return Fault{Status: http.StatusTooManyRequests, RetryAfter: "1"}, true
	case x < 0.75:
		return Fault{Status: http.StatusInternalServerError}, true
	default:
		return Fault{Status: http.StatusInternalServerError, Apply: true}, true
	}
}

// table keeps resources by SID in creation order.
type table[T any] struct {
	m     map[string]*T
	order []string
}

func newTable[T any]() table[T] { return table[T]{m: map[string]*T{}} }

func (t *table[T]) get(sid string) *T { return t.m[sid] }

func (t *table[T]) put(sid string, v *T) {
	if _, ok := t.m[sid]; !ok {
		t.order = append(t.order, sid)
	}
	t.m[sid] = v
}

func (t *table[T]) del(sid string) {
	if _, ok := t.m[sid]; !ok {
		return
	}
	delete(t.m, sid)
	for i, s := range t.order {
		if s == sid {
			t.order = append(t.order[:i:i], t.order[i+1:]...)
			break
		}
	}
}

func (t *table[T]) all() []*T {
	out := make([]*T, 0, len(t.order))
	for _, s := range t.order {
		out = append(out, t.m[s])
	}
	return out
}

func (t *table[T]) len() int { return len(t.order) }

// trim drops the oldest entries beyond max, in batches so it costs O(1)
// per insert over time.
func (t *table[T]) trim(max int) {
	if len(t.order) < 2*max {
		return
	}
	drop := len(t.order) - max
	for _, sid := range t.order[:drop] {
		delete(t.m, sid)
	}
	t.order = slices.Clone(t.order[drop:])
}

// keepLast is trim for a plain slice.
func keepLast[T any](s []T, max int) []T {
	if len(s) < 2*max {
		return s
	}
	return slices.Clone(s[len(s)-max:])
}
