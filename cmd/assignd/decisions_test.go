package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/inspect"
	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/policy/examples"
	"github.com/assignd/assignd/policy/rules"
)

// TestServeRecordsDecisions runs serve in development mode (DECISION_LOG
// defaults to full), sends callbacks, stops it, and finds them in
// DATA_DIR/decisions.sqlite: the last batch is committed on shutdown. The
// inspector built from the same log serves them as JSON.
func TestServeRecordsDecisions(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	pub, port := listenLocal(t, "127.0.0.1")
	env := []string{"PORT=" + port, "DATA_DIR=" + dir}
	stop, logs := startServe(t, env, handedListeners{public: pub})
	var out bytes.Buffer
	if err := run(context.Background(), []string{"send"}, env, nil, &out, &out); err != nil {
		t.Fatalf("send: %v\n%s", err, out.String())
	}
	_ = run(context.Background(), []string{"send", "-token", "not-the-token"}, env, nil, &out, &out)
	if err := stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, logs)
	}

	dl, err := decisionlog.Open(context.Background(), decisionlog.Options{Logger: zerolog.New(io.Discard), DataDir: dir, Mode: decisionlog.ModeFull})
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	got, err := dl.Query(context.Background(), decisionlog.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Result != "bad_signature" || got[1].Rule != "spanish-speaker" ||
		got[1].Mode != decisionlog.ModeFull || len(got[1].TaskAttributes) == 0 {
		t.Fatalf("decisions after serve: %+v", got)
	}

	p, err := rules.Parse("embedded:"+examples.Name, examples.Assignment())
	if err != nil {
		t.Fatal(err)
	}
	h, err := inspectorHandler(dl, inspect.NewPolicyStatus(policy.NewCurrent(p, p.Fallback())), nil, nil, time.Second, zerolog.New(io.Discard), nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/admin/api/decisions?rule=spanish-speaker", nil))
	var list struct{ Decisions []decisionlog.Entry }
	if err := json.Unmarshal(rec.Body.Bytes(), &list); rec.Code != 200 || err != nil || len(list.Decisions) != 1 {
		t.Fatalf("inspector: %d %s", rec.Code, rec.Body.String())
	}
	if h, _ := inspectorHandler(nil, nil, nil, nil, time.Second, zerolog.New(io.Discard), nil); h != nil {
		t.Error("an inspector without a decision log")
	}
}

// TestDecisionLogOff keeps nothing: no file is created.
func TestDecisionLogOff(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	pub, port := listenLocal(t, "127.0.0.1")
	env := []string{"PORT=" + port, "DATA_DIR=" + dir, "DECISION_LOG=off"}
	stop, _ := startServe(t, env, handedListeners{public: pub})
	var out bytes.Buffer
	if err := run(context.Background(), []string{"send"}, env, nil, &out, &out); err != nil {
		t.Fatalf("send: %v\n%s", err, out.String())
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, decisionlog.FileName+"*")); len(matches) != 0 {
		t.Fatalf("DECISION_LOG=off created %v", matches)
	}
}
