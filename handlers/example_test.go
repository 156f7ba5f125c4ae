package handlers_test

import (
	"context"
	"net/http"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/policy/examples"
	"github.com/assignd/assignd/policy/rules"
)

// A Go policy in front of the rules file: VIP callers (looked up in your own
// system) are accepted at once, everything else is left to the rules. The
// Guard keeps the deadline and answers the rules file's on_error on failure.
func Example_goPolicy() {
	file, err := rules.Parse("assignment.yaml", examples.Assignment())
	if err != nil {
		panic(err)
	}
	isVIP := func(ctx context.Context, caller any) bool { return caller == "+15551230000" } // your CRM here
	mine := policy.Func(func(ctx context.Context, r *policy.Reservation) (policy.Decision, error) {
		if isVIP(ctx, r.TaskAttributes["from"]) {
			return policy.Decision{Instruction: policy.Accept{}, Rule: "vip"}, nil
		}
		return file.Decide(ctx, r)
	})
	guard, err := policy.NewGuard(policy.WithFallback(mine, file.Fallback()), 3*time.Second)
	if err != nil {
		panic(err)
	}
	h, err := handlers.New(handlers.Options{
		Logger:   zerolog.New(os.Stdout),
		Verifier: handlers.NewVerifier([]string{os.Getenv("TWILIO_AUTH_TOKEN")}, nil, handlers.ProxyNone),
		Decider:  guard,
	})
	if err != nil {
		panic(err)
	}
	_ = &http.Server{Addr: ":8080", Handler: h, ReadHeaderTimeout: 5 * time.Second}
}
