package testwait

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestUntil(t *testing.T) {
	t.Parallel()
	n := 0
	if !Until(time.Minute, func() bool { n++; return n == 3 }) {
		t.Fatal("a condition that holds on the third poll was not seen")
	}
	if n != 3 {
		t.Fatalf("%d polls, want 3 (none after it held)", n)
	}
	if Until(20*time.Millisecond, func() bool { return false }) {
		t.Fatal("a condition that never holds was reported as held")
	}
}

// For fails with what it waited for; a fake TB records the message.
type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Fatalf(format string, args ...any) { r.msg = fmt.Sprintf(format, args...) }

func TestForNamesWhat(t *testing.T) {
	t.Parallel()
	r := &recorder{TB: t}
	For(r, "the sky to fall", 10*time.Millisecond, func() bool { return false })
	if !strings.Contains(r.msg, "the sky to fall") {
		t.Fatalf("For failed with %q, want it to name what it waited for", r.msg)
	}
}
