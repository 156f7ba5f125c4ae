package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/assignd/assignd/config"
	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/taskrouter"
)

// send posts one assignment callback signed exactly as Twilio signs it, so a
// local or ngrok-exposed instance can be tried without a Twilio account.
// Over 60 lines: its flags, then the request built, signed and posted, read
// top to bottom.
func send(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	cfg, err := config.Parse(environ)
	if err != nil {
		return err
	}
	fs := newFlagSet("send", `usage: assignd send [flags]

Posts one assignment callback signed exactly as Twilio signs it. With PUBLIC_URL
set, and -url not already on PUBLIC_URL's host, it signs what the server will
check: PUBLIC_URL followed by -url's path and query (as ngrok or a proxy does).
`)
	target := fs.String("url", "http://localhost:"+strconv.Itoa(cfg.Port)+cfg.CallbackPath, "where to POST the callback (from PORT and CALLBACK_PATH)")
	signURL := fs.String("sign-url", "", "the URL to sign (default: -url, or PUBLIC_URL + -url's path and query when PUBLIC_URL is set)")
	token := fs.String("token", "", "auth token to sign with (default: TWILIO_AUTH_TOKEN, else the development token in DATA_DIR)")
	task := fs.String("task", `{"selected_language":"es"}`, "task attributes (JSON object)")
	worker := fs.String("worker", `{"languages":["es","en"],"contact_uri":"client:alice"}`, "worker attributes (JSON object)")
	r := policy.Reservation{}
	sids := []sidFlag{
		{&r.AccountSid, "account-sid", taskrouter.PrefixAccount}, {&r.WorkspaceSid, "workspace-sid", taskrouter.PrefixWorkspace},
		{&r.WorkflowSid, "workflow-sid", taskrouter.PrefixWorkflow}, {&r.TaskQueueSid, "queue-sid", taskrouter.PrefixQueue},
		{&r.WorkerSid, "worker-sid", taskrouter.PrefixWorker}, {&r.TaskSid, "task-sid", taskrouter.PrefixTask},
		{&r.ReservationSid, "reservation-sid", taskrouter.PrefixReservation},
	}
	for _, s := range sids {
		fs.StringVar(s.p, s.name, "", s.name+" ("+s.prefix+"…; a fresh random one when unset)")
	}
	fs.IntVar(&r.TaskAge, "task-age", 5, "TaskAge in seconds")
	fs.IntVar(&r.TaskPriority, "priority", 0, "TaskPriority")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the answer")
	if ok, err := parseFlags(fs, args, stdout, stderr); !ok {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(fs, stderr, fmt.Sprintf("takes only flags, got %q", fs.Args()))
	}
	for _, s := range sids {
		if *s.p == "" {
			*s.p = randomSid(s.prefix)
		}
	}
	if err := decodeAttributes(&r, *task, *worker); err != nil {
		return err
	}
	r.Timestamp = strconv.FormatInt(time.Now().Unix(), 10)

	if *token == "" {
		*token = cfg.AuthToken
	}
	if *token == "" {
		creds, _, err := config.LoadOrCreateDevCredentials(cfg.DataDir)
		if err != nil {
			return &config.Error{Var: "DATA_DIR", Msg: err.Error()}
		}
		*token = creds.AuthToken
	}
	if *signURL == "" {
		u, err := url.Parse(*target)
		if err != nil || u.Host == "" {
			return fmt.Errorf("-url: want an absolute URL, got %q", *target)
		}
		*signURL = signedURL(cfg.Public, u)
	}

	form, err := handlers.EncodeForm(&r)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, *target, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("-url: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", taskrouter.Sign(*token, *signURL, form))
	req.Header.Set("User-Agent", "assignd-send (TwilioProxy/1.1 compatible)")
	resp, err := (&http.Client{Timeout: *timeout}).Do(req)
	if err != nil {
		return fmt.Errorf("send callback: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	fmt.Fprintf(stdout, "POST %s (signed for %s)\nreservation %s task %s worker %s\n%s\n%s\n",
		*target, *signURL, r.ReservationSid, r.TaskSid, r.WorkerSid, resp.Status, strings.TrimSpace(string(body)))
	if resp.StatusCode != http.StatusOK {
		return exitCode(1)
	}
	return nil
}

// sidFlag is a SID flag that gets a fresh random valid SID when unset (not
// as its default, so -h shows no random values).
type sidFlag struct {
	p            *string
	name, prefix string
}

// signedURL is the URL the server checks the signature against for a POST
// to target: target itself, unless PUBLIC_URL is set and target is not on
// its host (a local port behind ngrok or a proxy); then PUBLIC_URL followed
// by target's path and query, as handlers.Verifier rebuilds it.
func signedURL(public, target *url.URL) string {
	if public == nil || strings.EqualFold(public.Host, target.Host) {
		return target.String()
	}
	return public.Scheme + "://" + public.Host + public.EscapedPath() + target.RequestURI()
}

func randomSid(prefix string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// decodeAttributes sets r's attributes from the -task and -worker flags.
func decodeAttributes(r *policy.Reservation, task, worker string) error {
	if err := json.Unmarshal([]byte(task), &r.TaskAttributes); err != nil {
		return fmt.Errorf("-task: not a JSON object: %w", err)
	}
	if err := json.Unmarshal([]byte(worker), &r.WorkerAttributes); err != nil {
		return fmt.Errorf("-worker: not a JSON object: %w", err)
	}
	return nil
}
