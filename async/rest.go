package async

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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
// Retry-After of the last response.
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
	return &API{base: u, accountSid: accountSid, username: username, password: password, transport: transport, timeout: 10 * time.Second}, nil
}

// callTransport is the per-call RoundTripper described on API.
type callTransport struct {
	ctx        context.Context
	base       *url.URL
	next       http.RoundTripper
	status     int
	retryAfter string
}

func (t *callTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(t.ctx)
	req.URL.Scheme, req.URL.Host = t.base.Scheme, t.base.Host
	req.URL.Path = t.base.Path + req.URL.Path
	req.Host = ""
	resp, err := t.next.RoundTrip(req)
	if resp != nil {
		t.status, t.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
	}
	return resp, err
}

func (a *API) service(ctx context.Context) (*openapi.ApiService, *callTransport) {
	ct := &callTransport{ctx: ctx, base: a.base, next: a.transport}
	c := &client.Client{
		Credentials: client.NewCredentials(a.username, a.password),
		HTTPClient: &http.Client{
			Transport:     ct,
			Timeout:       a.timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	c.SetAccountSid(a.accountSid)
	return openapi.NewApiServiceWithClient(c), ct
}

// Class is what a REST outcome means for the job.
type Class int

const (
	// Done: the update was applied.
	Done Class = iota
	// RateLimited: 429, not processed; retry after RetryAfter (or backoff).
	RateLimited
	// Transient: 5xx, network error or timeout; it may or may not have
	// applied, so retry, and read "not pending" afterwards with care.
	Transient
	// NotPending: 400 or 404 — the reservation cannot take this update.
	// Fetch it to learn why (it may be our own earlier update).
	NotPending
	// Fatal: credentials or a request Twilio will never take.
	Fatal
)

func (c Class) String() string {
	return [...]string{"done", "rate_limited", "transient", "not_pending", "fatal"}[c]
}

// Result is one REST call's outcome.
type Result struct {
	Class      Class
	Status     int           // HTTP status, 0 when none arrived
	RetryAfter time.Duration // from Retry-After, when present
	Err        error
}

// Update applies ins to the reservation.
func (a *API) Update(ctx context.Context, workspace, task, reservation string, ins policy.Instruction) Result {
	params, err := UpdateParams(ins)
	if err != nil {
		return Result{Class: Fatal, Err: err}
	}
	svc, ct := a.service(ctx)
	_, err = svc.UpdateTaskReservation(workspace, task, reservation, params)
	return classify(ct, err)
}

// Fetch returns the reservation's status (pending, accepted, rejected,
// timeout, canceled, rescinded). A 404 is reported as Result.Class NotPending.
func (a *API) Fetch(ctx context.Context, workspace, task, reservation string) (string, Result) {
	svc, ct := a.service(ctx)
	res, err := svc.FetchTaskReservation(workspace, task, reservation)
	r := classify(ct, err)
	if r.Class != Done {
		return "", r
	}
	if res.ReservationStatus == nil {
		return "", Result{Class: Transient, Status: ct.status, Err: errors.New("reservation without reservation_status")}
	}
	return *res.ReservationStatus, r
}

func classify(ct *callTransport, err error) Result {
	r := Result{Status: ct.status, Err: err}
	if ct.retryAfter != "" {
		r.RetryAfter = parseRetryAfter(ct.retryAfter, time.Now())
	}
	var rest *client.TwilioRestError
	if errors.As(err, &rest) && rest.Status != 0 {
		r.Status = rest.Status
	}
	switch {
	case err == nil && ct.status >= 200 && ct.status < 300:
		r.Class = Done
	case err == nil:
		r.Class, r.Err = Transient, fmt.Errorf("unexpected HTTP status %d", ct.status)
	case r.Status == http.StatusTooManyRequests:
		r.Class = RateLimited
	case r.Status == 0 || r.Status >= 500 || r.Status == http.StatusRequestTimeout:
		r.Class = Transient // network error, timeout, or a server-side failure
	case r.Status == http.StatusBadRequest || r.Status == http.StatusNotFound || r.Status == http.StatusConflict:
		r.Class = NotPending
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

// UpdateParams maps an instruction to twilio-go's parameters. Each field is
// defined once in package policy, which gives the REST form; twilioParams
// moves it onto twilio-go's struct.
func UpdateParams(ins policy.Instruction) (*openapi.UpdateTaskReservationParams, error) {
	form, err := policy.UpdateParams(ins)
	if err != nil {
		return nil, fmt.Errorf("update parameters: %w", err)
	}
	return twilioParams(form)
}
