package config

import (
	"strings"
	"testing"
)

// AUTOMEMLIMIT is a share of the memory limit or off; GOMEMLIMIT set wins;
// anything else stops start-up with one line naming AUTOMEMLIMIT.
func TestMemoryShare(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  []string
		want float64
		err  string
	}{
		{nil, DefaultMemoryShare, ""},
		{[]string{"AUTOMEMLIMIT=0.5"}, 0.5, ""},
		{[]string{"AUTOMEMLIMIT=1"}, 1, ""},
		{[]string{"AUTOMEMLIMIT=off"}, 0, ""},
		{[]string{"GOMEMLIMIT=400MiB"}, 0, ""},
		{[]string{"GOMEMLIMIT=400MiB", "AUTOMEMLIMIT=0.5"}, 0, ""},
		{[]string{"AUTOMEMLIMIT=abc"}, 0, `AUTOMEMLIMIT: want a share of the memory limit above 0 and at most 1 (such as 0.9), or off, got "abc"`},
		{[]string{"AUTOMEMLIMIT=1.5"}, 0, `AUTOMEMLIMIT: want a share`},
		{[]string{"AUTOMEMLIMIT=0"}, 0, `AUTOMEMLIMIT: want a share`},
	} {
		c, err := Parse(tc.env)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%v: error %v, want one containing %q", tc.env, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("%v: %v", tc.env, err)
		case tc.err == "" && c.MemoryShare != tc.want:
			t.Errorf("%v: share %v, want %v", tc.env, c.MemoryShare, tc.want)
		}
	}
}
