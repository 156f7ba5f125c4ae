package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/assignd/assignd/config"
	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/policy"
)

// send posts one assignment callback signed exactly as Twilio signs it, so a
// local or ngrok-exposed instance can be tried without a Twilio account.
func send(ctx context.Context, args, environ []string, stdout io.Writer) error {
	cfg, err := config.Load(environ)
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	fs.SetOutput(stdout)
	target := fs.String("url", "http://localhost:"+strconv.Itoa(cfg.Port)+cfg.CallbackPath, "where to POST the callback")
	signURL := fs.String("sign-url", "", "the URL to sign, if not -url (default: PUBLIC_URL + CALLBACK_PATH when PUBLIC_URL is set)")
	token := fs.String("token", "", "auth token to sign with (default: TWILIO_AUTH_TOKEN, else the development token in DATA_DIR)")
	task := fs.String("task", `{"selected_language":"es"}`, "task attributes (JSON object)")
	worker := fs.String("worker", `{"languages":["es","en"],"contact_uri":"client:alice"}`, "worker attributes (JSON object)")
	r := policy.Reservation{}
	sidFlag(fs, &r.AccountSid, "account-sid", "AC")
	sidFlag(fs, &r.WorkspaceSid, "workspace-sid", "WS")
	sidFlag(fs, &r.WorkflowSid, "workflow-sid", "WW")
	sidFlag(fs, &r.TaskQueueSid, "queue-sid", "WQ")
	sidFlag(fs, &r.WorkerSid, "worker-sid", "WK")
	sidFlag(fs, &r.TaskSid, "task-sid", "WT")
	sidFlag(fs, &r.ReservationSid, "reservation-sid", "WR")
	fs.IntVar(&r.TaskAge, "task-age", 5, "TaskAge in seconds")
	fs.IntVar(&r.TaskPriority, "priority", 0, "TaskPriority")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the answer")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return exitCode(2)
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
		*signURL = *target
		if cfg.Public != nil {
			*signURL = strings.TrimSuffix(cfg.Public.String(), "/") + cfg.CallbackPath
		}
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
	req.Header.Set("X-Twilio-Signature", handlers.Sign(*token, *signURL, form))
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

// sidFlag registers a SID flag whose default is a fresh random valid SID.
func sidFlag(fs *flag.FlagSet, p *string, name, prefix string) {
	fs.StringVar(p, name, randomSid(prefix), name+" ("+prefix+"…, random by default)")
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
