package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Slow clients (slowloris) hold connections open by dribbling headers. The
// server's header timeout cuts them off, and while they hang on, a real
// callback is still answered.
func TestSlowClientsAreCutOff(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("waits for the server's header timeout")
	}
	pub, port := listenLocal(t, "127.0.0.1")
	env := []string{"PORT=" + port, "DATA_DIR=" + filepath.Join(t.TempDir(), "data")}
	startServe(t, env, handedListeners{public: pub})

	const slow = 50
	conns := make([]net.Conn, 0, slow)
	for range slow {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "POST /assignment HTTP/1.1\r\nHost: x\r\n"); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	done := make(chan struct{})
	go func() { // keep dribbling a header byte every 500 ms
		defer close(done)
		for range 20 {
			for _, c := range conns {
				c.Write([]byte("X"))
			}
			time.Sleep(500 * time.Millisecond)
		}
	}()

	var out bytes.Buffer
	if err := run(context.Background(), []string{"send"}, env, nil, &out, &out); err != nil || !strings.Contains(out.String(), "200 OK") {
		t.Fatalf("a real callback during the attack: %v\n%s", err, out.String())
	}

	// Every slow connection is closed by the server (read returns EOF or a
	// reset), well before the dribbling would have finished.
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(15 * time.Second)) // hang guard
		b, err := io.ReadAll(c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("slow connection %d still open", i)
		}
		if len(b) > 0 && !strings.HasPrefix(string(b), "HTTP/1.1 408") && !strings.HasPrefix(string(b), "HTTP/1.1 400") {
			t.Fatalf("slow connection %d got %q", i, b)
		}
	}
	select {
	case <-done:
		t.Fatal("the server waited out the whole slow send")
	default:
	}
}
