package config

import (
	passwordvalidator "github.com/wagslane/go-password-validator"
)

// MinAdminPasswordEntropy is the strength, in bits, production asks of
// ADMIN_PASSWORD. The estimate discounts repeated characters and runs such
// as 1234, abcd or qwerty, and counts only the alphabets used: 16 times "a"
// scores 9 bits, 16 random hex digits 83, `openssl rand -base64 24` 190.
const MinAdminPasswordEntropy = 80

// adminPasswordStrength refuses a password an attacker would guess before
// the failed-login throttle (admin) matters.
func adminPasswordStrength(pw string) Errors {
	bits := passwordvalidator.GetEntropy(pw)
	if bits >= MinAdminPasswordEntropy {
		return nil
	}
	return problem("ADMIN_PASSWORD", "too easy to guess (about %.0f bits, want %d: repeated characters, runs such as 1234 or qwerty and a single alphabet count for little); generate one with `openssl rand -base64 24`",
		bits, MinAdminPasswordEntropy)
}
