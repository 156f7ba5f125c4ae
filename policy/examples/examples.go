// Package examples holds the policy assignd runs in development when
// POLICY_FILE is unset, the starter policy `assignd policy init` writes, and
// the test cases that document them.
package examples

import (
	"embed"
	"fmt"
	"regexp"
	"strings"
)

//go:embed *.yaml
var files embed.FS

// Name is the embedded default policy's file name, used as its source in logs.
const Name = "assignment.yaml"

// StarterName is the starter policy's file name in this package.
const StarterName = "starter.yaml"

// Assignment returns the embedded default policy.
func Assignment() []byte { return mustRead(Name) }

// Starter returns the commented starter policy for `assignd policy init`.
func Starter() []byte { return mustRead(StarterName) }

func mustRead(name string) []byte {
	data, err := files.ReadFile(name)
	if err != nil {
		panic("examples: embedded file missing: " + err.Error()) // impossible: checked at build
	}
	return data
}

// placeholders are values of the example policy that only make sense in a
// demonstration: left in a real policy, they route real reservations to
// activities that do not exist, a test number, or example.com.
var placeholders = []struct {
	re   *regexp.Regexp
	what string
}{
	{regexp.MustCompile(`\b(WA|WQ|WW|WS|WK)0{20,}[0-9a-fA-F]{0,12}\b`), "placeholder SID %s: use your workspace's"},
	{regexp.MustCompile(`\+15005550\d{3}\b`), "Twilio test phone number %s: use one of your numbers"},
	{regexp.MustCompile(`https?://(www\.)?example\.(com|org|net)\b[^\s"']*`), "example URL %s: use your TwiML's URL"},
}

// Placeholders lists the example's placeholder values still present in a
// policy file, one warning per occurrence with its line number. Comments are
// not looked at.
func Placeholders(data []byte) []string {
	var out []string
	for i, line := range strings.Split(string(data), "\n") {
		if j := strings.Index(line, "#"); j >= 0 {
			line = line[:j]
		}
		for _, p := range placeholders {
			for _, m := range p.re.FindAllString(line, -1) {
				out = append(out, fmt.Sprintf("line %d: %s", i+1, fmt.Sprintf(p.what, m)))
			}
		}
	}
	return out
}
