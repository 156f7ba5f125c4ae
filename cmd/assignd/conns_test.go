package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The public listener is capped (MAX_CONNECTIONS): with five times the cap
// in idle connections held open, a signed callback is still answered, the
// open count stays within the cap, and both are on the admin /metrics.
func TestPublicListenerCapsConnections(t *testing.T) {
	pub, port := listenLocal(t, "127.0.0.1")
	adm, adminPort := listenLocal(t, "127.0.0.1")
	env := []string{"PORT=" + port, "DATA_DIR=" + t.TempDir(), "ADMIN_ADDR=127.0.0.1:" + adminPort, "MAX_CONNECTIONS=8"}
	startServe(t, env, handedListeners{public: pub, admin: adm})
	for range 40 {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"send"}, env, nil, &out, &out); err != nil || !strings.Contains(out.String(), "200 OK") {
		t.Fatalf("a signed callback under 40 idle connections: %v\n%s", err, out.String())
	}
	resp, err := http.Get("http://127.0.0.1:" + adminPort + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	value := func(name string) int {
		m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(body)
		if m == nil {
			t.Fatalf("no %s on the admin /metrics", name)
		}
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		return int(v)
	}
	if open, max := value("assignd_connections_open"), value("assignd_connections_max"); max != 8 || open > max {
		t.Fatalf("assignd_connections_open %d, assignd_connections_max %d; want at most 8 of 8", open, max)
	}
	if value("assignd_connections_evicted_total") < 40-8 {
		t.Fatalf("idle connections beyond the cap were not evicted:\n%s", body)
	}
}
