package handlers

import (
	"net/url"
	"time"

	"github.com/assignd/assignd/policy"
)

// Recorder is told about every callback once, where its log line is
// written: answered, fallback and refused ones alike, except those refused
// for their shape (ResultMalformed), which are only counted and logged. Record is called on
// the request path, so it must not block or do I/O; the decision log hands
// the record to a bounded channel and counts what it has to drop.
type Recorder interface {
	Record(c CallbackRecord)
}

// CallbackRecord is what the handler knows about one callback when it
// answers. The recorder owns it after Record; the handler never touches it
// again.
type CallbackRecord struct {
	Received time.Time
	Latency  time.Duration
	Result   string // one of Results() but ResultMalformed
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

// Results lists every callback result, for those that filter by it.
func Results() []string {
	return []string{ResultOK, ResultFallback, ResultMalformed, ResultBadSignature, ResultBadRequest}
}

// EventResults lists every result of a request to /events.
func EventResults() []string {
	return []string{ResultOK, ResultMalformed, ResultBadSignature, ResultBadRequest}
}
