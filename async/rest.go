package async

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"github.com/assignd/assignd/policy"
)

// API calls TaskRouter's Reservations REST API through twilio-go.
//
// twilio-go has a fixed base URL, no context parameter, and drops response
// headers on errors; a per-call RoundTripper fixes all three: it rewrites
// scheme and host to the configured base URL, attaches the job's context
// (so the reservation deadline cuts a slow call), and records the status and
// Retry-After of the last response. twilio-go also leaves error bodies
// unclosed, which closeErrorBodies makes harmless.
//
// The per-call timeout is a context deadline, not http.Client.Timeout: for
// a RoundTripper of its own the client runs a goroutine per request that
// only a Body.Close ends early, and twilio-go never closes error bodies.
type API struct {
	base       *url.URL
	accountSid string
	username   string
	password   string
	transport  http.RoundTripper
	timeout    time.Duration
}

// NewAPI returns an API client for baseURL. username/password are the
// account SID and auth token, or an API key SID and secret.
func NewAPI(baseURL, accountSid, username, password string, transport http.RoundTripper) (*API, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("taskrouter base URL %q: want an absolute http(s) URL", baseURL)
	}
	if username == "" || password == "" {
		return nil, errors.New("taskrouter credentials are empty")
	}
	if transport == nil {
		transport = http.DefaultTransport
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return &API{base: u, accountSid: accountSid, username: username, password: password,
		transport: closeErrorBodies{transport}, timeout: 10 * time.Second}, nil
}

// callTransport is the per-call RoundTripper described on API.
type callTransport struct {
	ctx        context.Context
	base       *url.URL
	next       http.RoundTripper
	status     int
	retryAfter string
	wrote      atomic.Bool // the request's headers were written: it may have arrived
}

func (t *callTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := httptrace.WithClientTrace(t.ctx, &httptrace.ClientTrace{WroteHeaders: func() { t.wrote.Store(true) }})
	req = req.Clone(ctx)
	req.URL.Scheme, req.URL.Host = t.base.Scheme, t.base.Host
	req.URL.Path = t.base.Path + req.URL.Path
	req.Host = ""
	resp, err := t.next.RoundTrip(req)
	if resp != nil {
		t.status, t.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
	}
	return resp, err
}

// service returns a twilio-go client for one call with ctx, cut at the
// API's timeout; the caller calls done once the call has returned.
func (a *API) service(ctx context.Context) (svc *openapi.ApiService, ct *callTransport, done context.CancelFunc) {
	ctx, done = context.WithTimeout(ctx, a.timeout)
	ct = &callTransport{ctx: ctx, base: a.base, next: a.transport}
	c := &client.Client{
		Credentials: client.NewCredentials(a.username, a.password),
		HTTPClient: &http.Client{
			Transport:     ct,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	c.SetAccountSid(a.accountSid)
	return openapi.NewApiServiceWithClient(c), ct, done
}

// Class is what one REST answer means for the job. The names are nouns for
// the kind of answer; what the worker does with each is the outcome table
// (outcome.go).
type Class int

const (
	// Applied: any 2xx. The update took effect, whatever the body says
	// (a body cut by the timeout or not JSON changes nothing).
	Applied Class = iota
	// RateLimited: 429, not processed; retry after Retry-After, or after a
	// wait that grows with the number of 429s.
	RateLimited
	// Ambiguous: 5xx, an unexpected status, a network error or a timeout.
	// The update may or may not have taken effect.
	Ambiguous
	// Unsent: the request never left (no connection, or the context ended
	// before the request was written): nothing can have applied.
	Unsent
	// Refusal: 400 or 409. Either the reservation is no longer pending
	// (possibly because of our own earlier update) or Twilio refuses the
	// update itself; Twilio uses code 20001 for both, so only a GET tells.
	Refusal
	// Missing: 404, the reservation (or its task) does not exist.
	Missing
	// Fatal: credentials or a request Twilio will never take (401, 403, …).
	Fatal
)

// classNames are the classes' names in logs, metrics, job metadata and the
// README's outcome table.
var classNames = [...]string{"applied", "rate_limited", "ambiguous", "unsent", "refusal", "missing", "fatal"}

func (c Class) String() string { return classNames[c] }

// Result is one REST call's outcome.
type Result struct {
	Class      Class
	Status     int           // HTTP status, 0 when none arrived
	RetryAfter time.Duration // from Retry-After, when present
	Code       int           // Twilio's error code, from the error body
	Message    string        // Twilio's error message, from the error body
	Duration   time.Duration
	Err        error
}

// Update applies ins to the reservation.
func (a *API) Update(ctx context.Context, workspace, task, reservation string, ins policy.Instruction) Result {
	params, err := TwilioUpdateParams(ins)
	if err != nil {
		return Result{Class: Fatal, Err: err}
	}
	svc, ct, done := a.service(ctx)
	defer done()
	start := time.Now()
	_, err = svc.UpdateTaskReservation(workspace, task, reservation, params)
	r := classify(ct, err)
	r.Duration = time.Since(start)
	return r
}

// Fetch returns the reservation's status (pending, accepted, rejected,
// timeout, canceled, rescinded, wrapping, completed). Anything but a 2xx
// with a readable status comes back in Result.Class.
func (a *API) Fetch(ctx context.Context, workspace, task, reservation string) (string, Result) {
	svc, ct, done := a.service(ctx)
	defer done()
	start := time.Now()
	res, err := svc.FetchTaskReservation(workspace, task, reservation)
	r := classify(ct, err)
	r.Duration = time.Since(start)
	if r.Class != Applied {
		return "", r
	}
	if err != nil || res == nil || res.ReservationStatus == nil {
		// A GET changes nothing, so an unreadable answer is just no answer.
		r.Class = Ambiguous
		if r.Err == nil {
			r.Err = errors.New("reservation without reservation_status")
		}
		return "", r
	}
	return *res.ReservationStatus, r
}

func classify(ct *callTransport, err error) Result {
	r := Result{Status: ct.status, Err: err}
	if ct.retryAfter != "" {
		r.RetryAfter = parseRetryAfter(ct.retryAfter, time.Now())
	}
	var rest *client.TwilioRestError
	if errors.As(err, &rest) {
		if rest.Status != 0 {
			r.Status = rest.Status
		}
		r.Code, r.Message = rest.Code, rest.Message
	}
	switch {
	case r.Status >= 200 && r.Status < 300:
		// Twilio answered success; a body we could not read (cut by the
		// timeout, not JSON) does not undo the update.
		r.Class = Applied
	case err == nil && r.Status == 0:
		r.Class, r.Err = Ambiguous, errors.New("no HTTP status")
	case err == nil:
		r.Class, r.Err = Ambiguous, fmt.Errorf("unexpected HTTP status %d", r.Status)
	case r.Status == http.StatusTooManyRequests:
		r.Class = RateLimited
	case r.Status == 0 && !ct.wrote.Load():
		r.Class = Unsent
	case r.Status == 0 || r.Status >= 500 || r.Status == http.StatusRequestTimeout:
		r.Class = Ambiguous // network error, timeout, or a server-side failure
	case r.Status == http.StatusBadRequest || r.Status == http.StatusConflict:
		r.Class = Refusal
	case r.Status == http.StatusNotFound:
		r.Class = Missing
	default:
		r.Class = Fatal // 401, 403 and other refusals that retrying cannot fix
	}
	return r
}

// parseRetryAfter reads delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// TwilioUpdateParams maps an instruction to twilio-go's parameters. Each field is
// defined once in package policy, which gives the REST form; twilioParams
// moves it onto twilio-go's struct.
func TwilioUpdateParams(ins policy.Instruction) (*openapi.UpdateTaskReservationParams, error) {
	form, err := policy.ReservationUpdateForm(ins)
	if err != nil {
		return nil, fmt.Errorf("update parameters: %w", err)
	}
	return twilioParams(form)
}
