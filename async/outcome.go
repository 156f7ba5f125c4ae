package async

import (
	"fmt"
	"slices"
	"strings"

	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/taskrouter"
)

// This file is the one definition of what the worker does with each REST
// answer: the outcome table. The worker looks every step up here, and the
// README's "Async outcomes" section is rendered from it (a test fails when
// they differ).

// Effect is what applying an instruction does to the reservation, which
// decides what a GET of the reservation can prove afterwards.
type Effect string

const (
	// Accepts: the reservation becomes accepted (and later wrapping,
	// completed), so a GET shows whether the update applied.
	Accepts Effect = "accepts"
	// Rejects: the reservation becomes rejected; a GET shows it.
	Rejects Effect = "rejects"
	// PlacesCall: a call is placed or redirected and the reservation may
	// stay pending. No GET can prove the call was not placed, so after an
	// ambiguous answer nothing is sent again: at most once.
	PlacesCall Effect = "places a call"
)

// effects lists which instructions have which effect.
var effects = []struct {
	Effect       Effect
	Instructions []string
}{
	{Accepts, []string{taskrouter.InstructionAccept, taskrouter.InstructionDequeue, taskrouter.InstructionConference}},
	{Rejects, []string{taskrouter.InstructionReject}},
	{PlacesCall, []string{taskrouter.InstructionCall, taskrouter.InstructionRedirect}},
}

func effectOf(ins policy.Instruction) Effect {
	for _, e := range effects {
		if slices.Contains(e.Instructions, ins.Name()) {
			return e.Effect
		}
	}
	return PlacesCall // unknown: the cautious reading
}

// Answer is what the worker is reacting to: the answer to its update (a
// Class), or one of two situations that start with a GET.
type Answer string

const (
	// AnswerEarlier: an earlier attempt's answer was ambiguous, or the
	// attempt left no record (its process died); GET before anything else.
	AnswerEarlier Answer = "earlier attempt ambiguous"
	// AnswerLate: the deadline passed after an ambiguous attempt; GET
	// before calling it expired.
	AnswerLate Answer = "deadline passed after an ambiguous attempt"
)

func answerOf(c Class) Answer { return Answer(c.String()) }

// Seen is what the verifying GET showed, read against the instruction's effect.
type Seen string

const (
	SeenNone     Seen = "—" // no GET
	SeenPending  Seen = "pending"
	SeenReached  Seen = "the instruction's status"   // accepted/wrapping/completed, or rejected for reject
	SeenOther    Seen = "another final status"       // e.g. rejected when we accepted
	SeenTimeout  Seen = "timeout"                    // the reservation timed out
	SeenGone     Seen = "canceled, rescinded or 404" // the task is gone
	SeenNoAnswer Seen = "no answer (429, 5xx, network)"
	SeenRefused  Seen = "400, 409 or 401/403"
)

// seenOf reads a GET's answer.
func seenOf(e Effect, status string, res Result) Seen {
	switch res.Class {
	case Applied:
	case Missing:
		return SeenGone
	case Refusal, Fatal:
		return SeenRefused // not a 404: the reservation may still be there
	default:
		return SeenNoAnswer
	}
	switch status {
	case taskrouter.ReservationPending:
		return SeenPending
	case taskrouter.ReservationAccepted, taskrouter.ReservationWrapping, taskrouter.ReservationCompleted: // only an accept leads to these
		if e == Rejects {
			return SeenOther
		}
		return SeenReached
	case taskrouter.ReservationRejected:
		if e == Rejects {
			return SeenReached
		}
		return SeenOther
	case taskrouter.ReservationTimeout:
		return SeenTimeout
	case taskrouter.ReservationCanceled, taskrouter.ReservationRescinded:
		return SeenGone
	}
	return SeenOther
}

// Next is what the worker does after a row matched.
type Next string

const (
	NextFinish   Next = "finish"             // record the outcome; no more calls
	NextUpdate   Next = "update now"         // send the update (again)
	NextRetry    Next = "retry with backoff" // River retries, never past the deadline
	NextSnooze   Next = "wait, growing with each 429, and update again"
	NextVerify   Next = "GET the reservation"
	NextFallback Next = "apply on_error over REST"
)

// Outcomes recorded on the job row, in the log and in metrics.
const (
	OutcomeApplied         = "applied"
	OutcomeFallbackApplied = "on_error_applied" // our update was refused; on_error applied instead
	OutcomeRefused         = "refused"          // refused, and no on_error could be applied
	OutcomeExpired         = "expired"
	OutcomeCanceled        = "canceled"
	OutcomeFailed          = "failed"
	// OutcomeUnknown: an update whose effect cannot be verified may or may
	// not have applied, and sending it again could act twice. Logged as an
	// error and counted: someone should look.
	OutcomeUnknown = "unknown"
)

// Outcomes lists every outcome, for metrics.
var Outcomes = []string{OutcomeApplied, OutcomeFallbackApplied, OutcomeRefused, OutcomeExpired, OutcomeCanceled, OutcomeFailed, OutcomeUnknown}

// Row is one line of the outcome table. Empty Effects means any effect.
type Row struct {
	Effects []Effect
	Answers []Answer
	Seen    Seen
	Outcome string // set when Next is NextFinish
	Next    Next
	Why     string
}

var (
	verifiable = []Effect{Accepts, Rejects}
	calls      = []Effect{PlacesCall}
	refusals   = []Answer{answerOf(Refusal), answerOf(Missing)}
	gets       = []Answer{answerOf(Refusal), answerOf(Missing), AnswerEarlier, AnswerLate}
)

// outcomeTable is the table. The first matching row wins.
var outcomeTable = []Row{
	// The update's own answer.
	{nil, []Answer{answerOf(Applied)}, SeenNone, OutcomeApplied, NextFinish, "any 2xx applied, even with an unreadable body"},
	{nil, []Answer{answerOf(RateLimited)}, SeenNone, "", NextSnooze, "429 is not processed; Retry-After when sent, else a capped, jittered wait that doubles per 429"},
	{nil, []Answer{answerOf(Unsent)}, SeenNone, "", NextRetry, "the request never left (dial failure): nothing can have applied"},
	{nil, []Answer{answerOf(Ambiguous)}, SeenNone, "", NextRetry, "may or may not have applied: the next attempt GETs first"},
	{nil, refusals, SeenNone, "", NextVerify, "our own earlier update, a reservation that moved on, or a refused parameter: only a GET tells"},
	{nil, []Answer{answerOf(Fatal)}, SeenNone, OutcomeFailed, NextFinish, "credentials or a request Twilio will never take"},

	// After a 400/409/404 on the update.
	{nil, refusals, SeenPending, "", NextFallback, "still pending: Twilio refused this update and will never take it"},
	// After an ambiguous attempt, before updating again.
	{verifiable, []Answer{AnswerEarlier}, SeenPending, "", NextUpdate, "pending proves the earlier attempt did not apply"},
	{calls, []Answer{AnswerEarlier}, SeenPending, OutcomeUnknown, NextFinish, "a call may have been placed; never place a second one"},
	// At the deadline after an ambiguous attempt.
	{verifiable, []Answer{AnswerLate}, SeenPending, OutcomeExpired, NextFinish, "not applied, and no time left"},
	{calls, []Answer{AnswerLate}, SeenPending, OutcomeUnknown, NextFinish, "a call may have been placed"},

	// Whatever led to the GET, these statuses speak for themselves.
	{nil, gets, SeenReached, OutcomeApplied, NextFinish, "an earlier attempt of ours applied (only an accept leads to wrapping/completed)"},
	{nil, gets, SeenOther, OutcomeFailed, NextFinish, "something else decided the reservation"},
	{nil, gets, SeenTimeout, OutcomeExpired, NextFinish, "the reservation timed out"},
	{nil, gets, SeenGone, OutcomeCanceled, NextFinish, "the reservation or its task is gone"},
	{nil, []Answer{answerOf(Refusal), answerOf(Missing), AnswerEarlier}, SeenNoAnswer, "", NextRetry, "the GET proved nothing; try again"},
	{nil, []Answer{answerOf(Refusal), answerOf(Missing), AnswerEarlier}, SeenRefused, "", NextRetry, "a 400/409 on the GET is not a 404; try again"},
	{nil, []Answer{AnswerLate}, SeenNoAnswer, OutcomeUnknown, NextFinish, "cannot verify, and no time left"},
	{nil, []Answer{AnswerLate}, SeenRefused, OutcomeUnknown, NextFinish, "cannot verify, and no time left"},
}

// lookup finds the row for an effect, an answer and what a GET showed.
func lookup(e Effect, a Answer, s Seen) (Row, bool) {
	for _, r := range outcomeTable {
		if (r.Effects == nil || slices.Contains(r.Effects, e)) && slices.Contains(r.Answers, a) && r.Seen == s {
			return r, true
		}
	}
	return Row{}, false
}

// OutcomeTableMarkdown renders the outcome table for the README.
func OutcomeTableMarkdown() string {
	var b strings.Builder
	b.WriteString("| instruction | REST answer | verifying GET shows | outcome | then | why |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, r := range outcomeTable {
		ins := "any"
		if r.Effects != nil {
			var names []string
			for _, e := range effects {
				if slices.Contains(r.Effects, e.Effect) {
					names = append(names, e.Instructions...)
				}
			}
			ins = strings.Join(names, ", ")
		}
		answers := make([]string, len(r.Answers))
		for i, a := range r.Answers {
			answers[i] = answerLabel(a)
		}
		outcome := "—"
		if r.Outcome != "" {
			outcome = "`" + r.Outcome + "`"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", ins, strings.Join(answers, "; "), r.Seen, outcome, r.Next, r.Why)
	}
	return b.String()
}

// answerLabel names an answer with its HTTP statuses.
func answerLabel(a Answer) string {
	switch a {
	case answerOf(Applied):
		return "2xx"
	case answerOf(RateLimited):
		return "429"
	case answerOf(Unsent):
		return "not sent (dial failure)"
	case answerOf(Ambiguous):
		return "5xx, timeout, network error"
	case answerOf(Refusal):
		return "400/409"
	case answerOf(Missing):
		return "404"
	case answerOf(Fatal):
		return "401, 403, other 4xx"
	}
	return string(a)
}
