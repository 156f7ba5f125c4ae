package inspect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/assignd/assignd/policy/examples"
	"github.com/assignd/assignd/policy/rules"
	"github.com/assignd/assignd/whatif/replay"
)

// The bounds of "Try a policy": what one request may read and spend. The
// candidate is at most MaxReplayPolicy, as for a replay of one entry.
const (
	// MaxTryEntries is how many of the most recent callbacks a try decides
	// again (twice each: candidate and policy in force).
	MaxTryEntries = 1000
	// TryBudget bounds a try's time: past it, it stops reading and says
	// how far it got.
	TryBudget = 30 * time.Second
	// MaxTries is how many tries run at once; the rest are refused (429,
	// Retry-After), not queued.
	MaxTries = 1
)

// tryExamples are the shipped policies a try may pick instead of sending one.
func tryExamples() map[string][]byte {
	return map[string][]byte{examples.Name: examples.Assignment(), examples.StarterName: examples.Starter()}
}

// tryExampleNames are tryExamples' names, sorted, for the page.
func tryExampleNames() []string {
	var names []string
	for n := range tryExamples() {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// errUnsupported is a body the API does not read: 415.
var errUnsupported = errors.New("send the rules file itself as the body (Content-Type: application/yaml or text/plain), not a form")

// errServer marks a try that failed on the server's side (the decision
// log could not be read): 500, not the sender's fault.
var errServer = errors.New("inspector")

// errNoRules marks a policy in force that is not a rules file: the try
// cannot compare with it, whatever is sent (409).
var errNoRules = errors.New("nothing to compare with")

// tryStatus is the status of a try that failed with err.
func tryStatus(err error) int {
	switch {
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errUnsupported):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, errServer):
		return http.StatusInternalServerError
	case errors.Is(err, errNoRules):
		return http.StatusConflict
	}
	return http.StatusBadRequest
}

// yamlTypes are the bodies the API takes as a rules file.
var yamlTypes = []string{"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain"}

// apiTryPolicy reads the API's candidate: the body, a rules file, or, with
// an empty body, the shipped example ?example= names.
func apiTryPolicy(w http.ResponseWriter, r *http.Request) (data []byte, name string, err error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "" && !slices.Contains(yamlTypes, ct) {
		return nil, "", fmt.Errorf("%w; got %s", errUnsupported, ct)
	}
	if data, err = readPolicy(http.MaxBytesReader(w, r.Body, MaxReplayPolicy+1)); err != nil {
		return nil, "", err
	}
	if len(bytes.TrimSpace(data)) > 0 {
		return data, "policy sent with the request", nil
	}
	return pickExample(r.URL.Query().Get("example"))
}

// pickExample is a shipped example by name.
func pickExample(name string) ([]byte, string, error) {
	if name == "" {
		return nil, "", fmt.Errorf("no policy: send a rules file as the body, or pick a shipped one with ?example= (%s)", strings.Join(tryExampleNames(), ", "))
	}
	data, ok := tryExamples()[name]
	if !ok {
		return nil, "", fmt.Errorf("no shipped example %q (%s)", name, strings.Join(tryExampleNames(), ", "))
	}
	return data, "shipped example " + name, nil
}

// pageTryPolicy reads the page's form: an uploaded file, pasted rules or a
// shipped example, in that order.
func pageTryPolicy(w http.ResponseWriter, r *http.Request) (data []byte, name string, err error) {
	if data, name, err = formPolicy(w, r); err != nil || len(data) > 0 {
		return data, name, err
	}
	return pickExample(r.PostForm.Get("example"))
}

// try decides the most recent callbacks again with the candidate data
// and with the policy in force.
func (in *inspector) try(ctx context.Context, data []byte, name string) (replay.Result, error) {
	inForce, ok := in.o.Policy.Policy().(*rules.Policy)
	if !ok {
		return replay.Result{}, fmt.Errorf("the policy in force (%s) is not a rules file: %w", policyName(in.o.Policy.Policy()), errNoRules)
	}
	candidate, err := rules.Parse(name, data, rules.MaxCostLimit(inForce.CostLimit()))
	if err != nil {
		return replay.Result{}, fmt.Errorf("not a valid rules file: %w", err)
	}
	// The budget is checked between callbacks; the context stops one
	// that is under way (a decision takes at most the deadline).
	ctx, cancel := context.WithTimeout(ctx, TryBudget+2*in.o.DecisionDeadline)
	defer cancel()
	res, err := replay.Run(ctx, replay.Options{Log: in.o.Log, Candidate: candidate, InForce: inForce,
		Limit: MaxTryEntries, Deadline: in.o.DecisionDeadline, Budget: TryBudget})
	if err != nil {
		return res, fmt.Errorf("%w: %w", errServer, err)
	}
	if note := candidate.CostLimitNote(); note != "" {
		res.Notes = append(res.Notes, note+" (the policy in force's)")
	}
	return res, nil
}

func (in *inspector) apiTry(w http.ResponseWriter, r *http.Request) {
	refuse := func(status int, msg string) { writeJSON(w, status, map[string]string{"error": msg}) }
	data, name, err := apiTryPolicy(w, r)
	if res, ok := in.tryInSlot(w, r, data, name, err, refuse); ok {
		writeJSON(w, http.StatusOK, res)
	}
}

// tryInSlot decides the recent window with the candidate read from the
// request (or refuses readErr), in a try's slot taken only now that the
// body is in; every refusal goes through refuse.
func (in *inspector) tryInSlot(w http.ResponseWriter, r *http.Request, data []byte, name string, readErr error,
	refuse func(status int, msg string)) (replay.Result, bool) {
	if readErr != nil {
		refuse(tryStatus(readErr), readErr.Error())
		return replay.Result{}, false
	}
	if !in.tries.take(w, refuse) {
		return replay.Result{}, false
	}
	defer in.tries.release()
	res, err := in.try(r.Context(), data, name)
	if err != nil {
		refuse(tryStatus(err), err.Error())
		return replay.Result{}, false
	}
	return res, true
}

// tryPage is the "Try a policy" page: the form, and a result or an error.
type tryPage struct {
	Examples []string
	Picked   string
	Rules    string // pasted rules, shown again
	Entries  int
	Budget   time.Duration
	Result   *replay.Result
	Lint     []string
	Error    string
	Policy   policyView
}

func (in *inspector) newTryPage() tryPage {
	return tryPage{Examples: tryExampleNames(), Entries: MaxTryEntries, Budget: TryBudget, Policy: in.policyView()}
}

func (in *inspector) tryForm(w http.ResponseWriter, r *http.Request) {
	in.render(w, http.StatusOK, "try.html", in.newTryPage())
}

func (in *inspector) tryRun(w http.ResponseWriter, r *http.Request) {
	page := in.newTryPage()
	refuse := func(status int, msg string) {
		page.Error = msg
		in.render(w, status, "try.html", page)
	}
	data, name, err := pageTryPolicy(w, r)
	if r.PostForm != nil {
		page.Picked = r.PostForm.Get("example")
		if len(r.PostForm.Get("policy")) <= MaxReplayPolicy {
			page.Rules = r.PostForm.Get("policy")
		}
	}
	res, ok := in.tryInSlot(w, r, data, name, err, refuse)
	if !ok {
		return
	}
	page.Result, page.Lint = &res, res.Lint.Lines(res.Candidate)
	in.render(w, http.StatusOK, "try.html", page)
}
