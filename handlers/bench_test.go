package handlers_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/rs/zerolog"

	"github.com/assignd/assignd/handlers"
	"github.com/assignd/assignd/taskrouter"
)

// BenchmarkCallback measures one signed callback end to end in-process:
// body read, signature check, parse, example policy, answer, log line.
// BenchmarkCallbackFloor is a bare echo handler answering a constant, the
// baseline to compare it with in the same run.
func BenchmarkCallback(b *testing.B) {
	h, err := handlers.New(handlers.Options{
		Logger:   zerolog.New(discard{}),
		Verifier: handlers.NewVerifier([]string{testToken}, nil, handlers.ProxyNone),
		Decider:  guard(b, examplePolicy(b), time.Second),
	})
	if err != nil {
		b.Fatal(err)
	}
	r := reservation(map[string]any{"selected_language": "es"}, map[string]any{"languages": []any{"es", "en"}, "skills": []any{"billing"}})
	form, _ := handlers.EncodeForm(&r)
	body := form.Encode()
	sig := taskrouter.Sign(testToken, "http://example.com/assignment", form)
	runBench(b, h, body, sig, `{"instruction":"accept"}`)
}

func BenchmarkCallbackFloor(b *testing.B) {
	e := echo.New()
	e.POST("/assignment", func(c echo.Context) error {
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, []byte(`{"instruction":"accept"}`))
	})
	runBench(b, e, "x=1", "", `{"instruction":"accept"}`)
}

func runBench(b *testing.B, h http.Handler, body, sig, want string) {
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "http://example.com/assignment", strings.NewReader(body))
		req.Header.Set("X-Twilio-Signature", sig)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || rec.Body.String() != want {
			b.Fatalf("got %d %s", rec.Code, rec.Body.String())
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkRefusedAtTheBounds is the most expensive forged request the
// server still checks the signature of: the most parameters, filling the
// body limit, with a well-formed wrong signature. BenchmarkCallback, in the
// same run, is the baseline. The decoy variants name bodySHA256 in the query
// without a hash, which must not make the check any dearer.
func BenchmarkRefusedAtTheBounds(b *testing.B) {
	h, err := handlers.New(handlers.Options{
		Logger:   zerolog.New(discard{}),
		Verifier: handlers.NewVerifier([]string{testToken}, nil, handlers.ProxyNone),
		Decider:  guard(b, examplePolicy(b), time.Second),
	})
	if err != nil {
		b.Fatal(err)
	}
	n := handlers.MaxFormParams
	value := strings.Repeat("v", (handlers.DefaultBodyLimit-n*(handlers.MaxParamName+2))/n)
	pairs := make([]string, n)
	for i := range pairs {
		pairs[i] = fmt.Sprintf("%0*d=%s", handlers.MaxParamName, i, value)
	}
	body := strings.Join(pairs, "&")
	for name, query := range map[string]string{"plain": "", "decoy-value": "?x=bodySHA256", "decoy-empty": "?bodySHA256="} {
		b.Run(name, func(b *testing.B) {
			u := "http://example.com/assignment" + query
			runBenchStatus(b, h, u, body, taskrouter.Sign("not-the-token", u, nil), http.StatusForbidden)
		})
	}
}

func runBenchStatus(b *testing.B, h http.Handler, target, body, sig string, want int) {
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
		req.Header.Set("X-Twilio-Signature", sig)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			b.Fatalf("got %d %s", rec.Code, rec.Body.String())
		}
	}
}
