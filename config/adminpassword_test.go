package config_test

import (
	"strings"
	"testing"

	"github.com/assignd/assignd/config"
)

// Production refuses an ADMIN_PASSWORD that is long enough but guessable,
// with one line naming it and how to make a good one; development, whose
// admin listener is loopback, only asks for the length.
func TestWeakAdminPasswordRefusedInProduction(t *testing.T) {
	t.Parallel()
	admin := []string{"ADMIN_ADDR=0.0.0.0:9090"}
	for _, pw := range []string{"aaaaaaaaaaaaaaaa", "0123456789abcdefgh", "qwertyuiopasdfgh", "passwordpassword", "abcdefghijklmnop"} {
		_, err := config.Load(append(good(t), append(admin, "ADMIN_PASSWORD="+pw)...))
		if err == nil || !strings.Contains(err.Error(), "ADMIN_PASSWORD: too easy to guess") || !strings.Contains(err.Error(), "openssl rand -base64 24") {
			t.Errorf("production with ADMIN_PASSWORD=%s: %v, want refused", pw, err)
			continue
		}
		if lines := strings.Split(err.Error(), "\n"); len(lines) != 1 {
			t.Errorf("ADMIN_PASSWORD=%s: %d lines, want one:\n%v", pw, len(lines), err)
		}
	}
	for _, pw := range []string{"dGhpcyBpcyBhIHJhbmRvbSBzdHJpbmc0", "3f9a1c7e2b8d4f6a", "correct-horse-battery"} {
		if _, err := config.Load(append(good(t), append(admin, "ADMIN_PASSWORD="+pw)...)); err != nil {
			t.Errorf("production with ADMIN_PASSWORD=%s: %v", pw, err)
		}
	}
	if _, err := config.Parse([]string{"ADMIN_ADDR=127.0.0.1:9090", "ADMIN_PASSWORD=aaaaaaaaaaaaaaaa"}); err != nil {
		t.Errorf("development: %v", err)
	}
}
