package handlers

import (
	"net/url"
	"time"

	"github.com/assignd/assignd/policy"
)

// Recorder is told about every callback once, where its log line is
// written: answered, fallback and refused ones alike, except those refused
// for their shape (ResultMalformed), which are only counted and logged
// (see Results and CountedResults). Record is called on the request path,
// so it must not block or do I/O; the decision log hands the record to a
// bounded channel and counts what it has to drop.
type Recorder interface {
	Record(c CallbackRecord)
}

// CallbackRecord is what the handler knows about one callback when it
// answers. The recorder owns it after Record; the handler never touches it
// again.
type CallbackRecord struct {
	Received time.Time
	Latency  time.Duration
	Result   string // one of Results()
	// CheckedURL is the URL the signature was checked against.
	CheckedURL string
	// Err says why the callback was refused or answered with the fallback.
	Err error
	// Reservation is nil when the request was refused before it was parsed
	// (bad signature, unreadable body); for a bad request it holds what
	// could be parsed.
	Reservation *policy.Reservation
	// Form is the request's form as parsed (for a bad signature it is
	// unverified: what the sender claimed); nil when the body was unreadable.
	Form url.Values
	// Decision is the decision answered (the fallback when Result says so).
	Decision policy.Decision
	// Steps are the rules the policy looked at, in order.
	Steps []policy.Step
	// Answer is the HTTP response body sent to TaskRouter.
	Answer    []byte
	Duplicate bool // an async decision for this reservation was already stored
}

// Results lists the callback results a Recorder is given, for those that
// filter recorded callbacks by result (the inspector, the decision log's
// refusal samplers): every one but ResultMalformed.
func Results() []string {
	return []string{ResultOK, ResultFallback, ResultBadSignature, ResultBadRequest}
}

// CountedResults lists every callback result, as counted in metrics: the
// recorded ones and ResultMalformed, which is only counted and logged.
func CountedResults() []string { return append(Results(), ResultMalformed) }

// EventResults lists every result of a request to /events.
func EventResults() []string {
	return []string{ResultOK, ResultMalformed, ResultBadSignature, ResultBadRequest}
}
