package admin_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/assignd/assignd/admin"
)

const password = "correct horse battery staple"

// serve starts h on addr (":0" style) and returns its port.
func serve(t *testing.T, addr string, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func newAdmin(t *testing.T, o admin.Options) http.Handler {
	t.Helper()
	if o.Metrics == nil {
		reg := prometheus.NewRegistry()
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: "assignd_test_total", Help: "A counter the test looks for."})
		c.Add(3)
		reg.MustRegister(c)
		o.Metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	}
	o.Logger = zerolog.Nop()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h, err := admin.New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

type reply struct {
	status int
	header http.Header
	body   string
}

func get(t *testing.T, url string, auth func(*http.Request)) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != nil {
		auth(req)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) reply {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, string(b)}
}

func basic(user, pass string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, pass) }
}

// nonLoopbackIP is an address of this machine's own that is not loopback:
// connecting to it from here makes the kernel use it as the source, so the
// server sees a non-loopback peer over a real connection.
func nonLoopbackIP(t *testing.T) string {
	t.Helper()
	ip := nonLoopbackIPOrEmpty()
	if ip == "" {
		t.Skip("this machine has no non-loopback IPv4 address; TestAccessRuleOnRemoteAddr covers the rule")
	}
	return ip
}

func TestLoopbackOnlyWithoutPassword(t *testing.T) {
	t.Parallel()
	ip := nonLoopbackIP(t)
	port := serve(t, "0.0.0.0:0", newAdmin(t, admin.Options{}))

	r := get(t, "http://"+net.JoinHostPort(ip, port)+"/metrics", nil)
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "ADMIN_PASSWORD") {
		t.Fatalf("non-loopback client without a password: got %d %q, want 403 naming ADMIN_PASSWORD", r.status, r.body)
	}
	if strings.Contains(r.body, "assignd_test_total") {
		t.Fatal("the refusal leaked the metrics")
	}
	r = get(t, "http://127.0.0.1:"+port+"/metrics", nil)
	if r.status != http.StatusOK || !strings.Contains(r.body, "assignd_test_total 3") {
		t.Fatalf("loopback client: got %d %q, want 200 with the metrics", r.status, r.body)
	}
}

func TestPasswordRequiresBasicAuth(t *testing.T) {
	t.Parallel()
	port := serve(t, "0.0.0.0:0", newAdmin(t, admin.Options{Password: password}))
	hosts := []string{"127.0.0.1"}
	if ip := nonLoopbackIPOrEmpty(); ip != "" {
		hosts = append(hosts, ip) // with credentials a remote client is served too
	}
	for _, host := range hosts {
		base := "http://" + net.JoinHostPort(host, port)
		for _, c := range []struct {
			name string
			auth func(*http.Request)
		}{
			{"none", nil},
			{"wrong password", basic(admin.User, "wrong")},
			{"wrong user", basic("root", password)},
			{"password prefix", basic(admin.User, password[:5])},
		} {
			r := get(t, base+"/metrics", c.auth)
			if r.status != http.StatusUnauthorized {
				t.Fatalf("%s, %s: got %d, want 401", host, c.name, r.status)
			}
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic ") {
				t.Fatalf("%s, %s: WWW-Authenticate = %q, want a Basic challenge", host, c.name, r.header.Get("WWW-Authenticate"))
			}
			if strings.Contains(r.body, "assignd_test_total") {
				t.Fatalf("%s, %s: the refusal leaked the metrics", host, c.name)
			}
		}
		r := get(t, base+"/metrics", basic(admin.User, password))
		if r.status != http.StatusOK || !strings.Contains(r.body, "assignd_test_total 3") {
			t.Fatalf("%s with credentials: got %d %q, want 200 with the metrics", host, r.status, r.body)
		}
	}
}

func nonLoopbackIPOrEmpty() string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	return ""
}

// TestAccessRuleOnRemoteAddr applies the rule to peers a test machine
// cannot produce (public IPv4 and IPv6 addresses, a forged forwarding
// header): the rule reads the TCP peer only.
func TestAccessRuleOnRemoteAddr(t *testing.T) {
	t.Parallel()
	h := newAdmin(t, admin.Options{})
	for _, c := range []struct {
		remote string
		want   int
	}{
		{"127.0.0.1:5000", http.StatusOK},
		{"[::1]:5000", http.StatusOK},
		{"203.0.113.7:5000", http.StatusForbidden},
		{"[2001:db8::1]:5000", http.StatusForbidden},
		{"10.0.0.2:5000", http.StatusForbidden},
		{"garbage", http.StatusForbidden},
	} {
		req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:9090/metrics", nil)
		req.RemoteAddr = c.remote
		req.Header.Set("X-Forwarded-For", "127.0.0.1")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != c.want {
			t.Errorf("peer %s: got %d, want %d", c.remote, w.Code, c.want)
		}
	}
	// The explicit opt-in serves a remote peer without credentials.
	open := newAdmin(t, admin.Options{AllowRemote: true})
	req := httptest.NewRequest(http.MethodGet, "http://10.0.0.5:9090/metrics", nil)
	req.RemoteAddr = "203.0.113.7:5000"
	w := httptest.NewRecorder()
	open.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Errorf("AllowRemote: got %d, want 200", w.Code)
	}
}

func TestMetricsReadyAndPprof(t *testing.T) {
	t.Parallel()
	ready := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not ready: postgres store: connection refused", http.StatusServiceUnavailable)
	})
	port := serve(t, "127.0.0.1:0", newAdmin(t, admin.Options{Password: password, Ready: ready}))
	base := "http://127.0.0.1:" + port
	auth := basic(admin.User, password)

	if r := get(t, base+admin.ReadyPath, auth); r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "connection refused") {
		t.Fatalf("/readyz: got %d %q, want the readiness handler's 503 with details", r.status, r.body)
	}
	r := get(t, base+"/debug/pprof/", auth)
	if r.status != http.StatusOK || !strings.Contains(r.body, "goroutine") {
		t.Fatalf("/debug/pprof/: got %d, want the profile index", r.status)
	}
	r = get(t, base+"/debug/pprof/goroutine?debug=1", auth)
	if r.status != http.StatusOK || !strings.Contains(r.body, "goroutine profile:") {
		t.Fatalf("/debug/pprof/goroutine: got %d %.80q, want a goroutine profile", r.status, r.body)
	}
	if r := get(t, base+"/debug/pprof/", nil); r.status != http.StatusUnauthorized {
		t.Fatalf("pprof without credentials: got %d, want 401", r.status)
	}
	if r := get(t, base+"/nothing-here", auth); r.status != http.StatusNotFound {
		t.Fatalf("unknown path: got %d, want 404", r.status)
	}
}

func TestInspectorSlot(t *testing.T) {
	t.Parallel()
	insp := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "inspector at "+r.URL.Path) })
	port := serve(t, "127.0.0.1:0", newAdmin(t, admin.Options{Inspector: insp}))
	r := get(t, "http://127.0.0.1:"+port+"/admin/api/decisions", nil)
	if r.status != http.StatusOK || r.body != "inspector at /admin/api/decisions" {
		t.Fatalf("got %d %q, want the inspector to get /admin/api/decisions", r.status, r.body)
	}
}

// A page elsewhere must not make an operator's browser, which resends Basic
// credentials, act on the admin listener.
func TestCrossOriginActionsRefused(t *testing.T) {
	t.Parallel()
	var acted bool
	insp := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { acted = true })
	port := serve(t, "127.0.0.1:0", newAdmin(t, admin.Options{Password: password, Inspector: insp}))
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:"+port+"/admin/replay", strings.NewReader("{}"))
	req.SetBasicAuth(admin.User, password)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	if r := do(t, req); r.status != http.StatusForbidden || acted {
		t.Fatalf("cross-site POST: got %d (acted %v), want 403 and no action", r.status, acted)
	}
	req, _ = http.NewRequest(http.MethodPost, "http://127.0.0.1:"+port+"/admin/replay", strings.NewReader("{}"))
	req.SetBasicAuth(admin.User, password)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if r := do(t, req); r.status != http.StatusOK || !acted {
		t.Fatalf("same-origin POST: got %d (acted %v), want 200", r.status, acted)
	}
}

func TestLoopbackHost(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		host string
		want bool
	}{
		{"127.0.0.1", true}, {"127.8.9.10", true}, {"::1", true}, {"localhost", true}, {"LOCALHOST", true},
		{"", false}, {"0.0.0.0", false}, {"::", false}, {"10.1.2.3", false}, {"example.com", false},
		{"localhost.evil.example", false}, {"fe80::1%eth0", false},
	} {
		if got := admin.LoopbackHost(c.host); got != c.want {
			t.Errorf("LoopbackHost(%q) = %v, want %v", c.host, got, c.want)
		}
	}
}

// TestDNSRebindingRefused: a page at evil.example that re-resolves its
// name to 127.0.0.1 reaches the listener from a loopback peer, over a real
// connection, but with its own name in Host. Without a password that is
// refused; names the attacker cannot control are served.
func TestDNSRebindingRefused(t *testing.T) {
	t.Parallel()
	var served bool
	insp := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served = true; io.WriteString(w, "decisions") })
	port := serve(t, "127.0.0.1:0", newAdmin(t, admin.Options{Inspector: insp, Addr: "admin.local:9090"}))
	for _, c := range []struct {
		host string
		want int
	}{
		{"evil.example:" + port, http.StatusMisdirectedRequest},
		{"evil.example", http.StatusMisdirectedRequest},
		{"localhost.evil.example:" + port, http.StatusMisdirectedRequest},
		{"127.0.0.1:" + port, http.StatusOK},
		{"localhost:" + port, http.StatusOK},
		{"[::1]:" + port, http.StatusOK},
		{"admin.local:" + port, http.StatusOK}, // ADMIN_ADDR's own host
	} {
		served = false
		req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+port+"/admin/api/decisions", nil)
		req.Host = c.host
		r := do(t, req)
		if r.status != c.want || served != (c.want == http.StatusOK) {
			t.Errorf("Host %s: got %d (served %v), want %d", c.host, r.status, served, c.want)
		}
		if c.want != http.StatusOK && !strings.Contains(r.body, "ADMIN_PASSWORD") {
			t.Errorf("Host %s: refusal %q does not say what to do", c.host, r.body)
		}
	}
	// With a password the browser cannot send the credentials to a
	// rebinding page's origin, so any Host is served to whoever has them.
	port = serve(t, "127.0.0.1:0", newAdmin(t, admin.Options{Password: password, Inspector: insp}))
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+port+"/admin/api/decisions", nil)
	req.Host = "assignd.example:" + port
	req.SetBasicAuth(admin.User, password)
	if r := do(t, req); r.status != http.StatusOK {
		t.Errorf("password and a DNS name: got %d, want 200", r.status)
	}
	// ADMIN_OPEN_REASON serves the private network by IP, not foreign names.
	open := newAdmin(t, admin.Options{AllowRemote: true, Inspector: insp})
	for host, want := range map[string]int{"[fdaa:0:1::3]:9090": http.StatusOK, "10.0.0.5:9090": http.StatusOK, "evil.example:9090": http.StatusMisdirectedRequest} {
		req := httptest.NewRequest(http.MethodGet, "/admin/api/decisions", nil)
		req.RemoteAddr, req.Host = "10.0.0.2:5000", host
		w := httptest.NewRecorder()
		open.ServeHTTP(w, req)
		if w.Code != want {
			t.Errorf("AllowRemote, Host %s: got %d, want %d", host, w.Code, want)
		}
	}
}
