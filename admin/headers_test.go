package admin_test

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rs/zerolog"

	"github.com/assignd/assignd/admin"
	"github.com/assignd/assignd/async"
)

// wantSecurityHeaders are the headers every admin response carries.
func wantSecurityHeaders(t *testing.T, what string, h http.Header, csp string) {
	t.Helper()
	for k, v := range map[string]string{
		"Content-Security-Policy": csp,
		"X-Frame-Options":         "DENY",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
	} {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
}

// Every admin response carries the security headers: pages, River UI,
// metrics, readiness, pprof, errors, and the refusals of the access rule.
func TestEveryResponseCarriesSecurityHeaders(t *testing.T) {
	t.Parallel()
	q, err := async.Open(context.Background(), async.Options{Logger: zerolog.Nop(), DataDir: filepath.Join(t.TempDir(), "data")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	page := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "<p>inspector</p>") })
	ready := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ready") })
	open := serve(t, "127.0.0.1:0", newAdmin(t, admin.Options{Inspector: page, Ready: ready, Queue: q.UIEndpoints()}))
	locked := serve(t, "127.0.0.1:0", newAdmin(t, admin.Options{Password: password, Inspector: page, Ready: ready}))
	base, lockedBase := "http://127.0.0.1:"+open, "http://127.0.0.1:"+locked

	for _, c := range []struct {
		what, url string
		auth      func(*http.Request)
		status    int
		csp       string
	}{
		{"inspector", base + "/admin/", nil, 200, admin.ContentSecurityPolicy},
		{"metrics", base + admin.MetricsPath, nil, 200, admin.ContentSecurityPolicy},
		{"readyz", base + admin.ReadyPath, nil, 200, admin.ContentSecurityPolicy},
		{"pprof", base + admin.PprofPrefix, nil, 200, admin.ContentSecurityPolicy},
		{"not found", base + "/nothing-here", nil, 404, admin.ContentSecurityPolicy},
		{"River UI", base + admin.QueuePrefix + "/", func(r *http.Request) { r.Header.Set("Accept", "text/html") }, 200, admin.QueueContentSecurityPolicy},
		{"River UI API", base + admin.QueuePrefix + "/api/jobs?state=available", nil, 200, admin.QueueContentSecurityPolicy},
		{"foreign host", base + admin.MetricsPath, func(r *http.Request) { r.Host = "evil.example" }, http.StatusMisdirectedRequest, admin.ContentSecurityPolicy},
		{"no credentials", lockedBase + "/admin/", nil, 401, admin.ContentSecurityPolicy},
		{"credentials", lockedBase + "/admin/", basic(admin.User, password), 200, admin.ContentSecurityPolicy},
	} {
		r := get(t, c.url, c.auth)
		if r.status != c.status {
			t.Errorf("%s: %d, want %d: %.200s", c.what, r.status, c.status, r.body)
		}
		wantSecurityHeaders(t, c.what, r.header, c.csp)
	}
	// Throttled: the 429 too.
	for i := range admin.FailedLoginBurst + 1 {
		r := get(t, lockedBase+"/admin/", basic(admin.User, "wrong-"+strconv.Itoa(i)))
		if i == admin.FailedLoginBurst {
			if r.status != http.StatusTooManyRequests {
				t.Fatalf("past the allowance: %d, want 429", r.status)
			}
			wantSecurityHeaders(t, "throttled", r.header, admin.ContentSecurityPolicy)
		}
	}
}
