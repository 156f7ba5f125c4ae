package handlers

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
)

// Bounds on a form that no TaskRouter request comes near. They are checked
// on the raw body before the signature, so a hostile body costs one scan.
const (
	// MaxFormParams: the largest form TaskRouter posts, a workspace event,
	// has about 40 parameters; three times that leaves room for the
	// parameters Twilio adds without notice.
	MaxFormParams = 128
	// MaxParamName: Twilio's longest names (TaskChannelUniqueName) are
	// about 25 bytes.
	MaxParamName = 64
	// MaxParamValue: the longest values, TaskAttributes and
	// WorkerAttributes, are JSON of a few KB (4096 characters for the
	// callback; TaskRouter's limits count attribute JSON in KB, whitespace
	// included): 32 KiB is twice the largest reading, in bytes.
	MaxParamValue = 32 << 10
)

// ErrMalformed says a body is not a form TaskRouter would send; such a
// request is refused before its signature is checked.
var ErrMalformed = errors.New("request does not look like a TaskRouter callback")

// CheckShape refuses a form body that no TaskRouter request looks like: too
// many parameters, a repeated name, a name or value beyond the bounds
// above. It does not build the form: the parameter count is bounded first,
// so the rest of the scan is too. A pair that does not decode is left to
// the signature check, which refuses it.
func CheckShape(body []byte) error {
	if len(body) == 0 {
		return nil
	}
	if n := bytes.Count(body, []byte{'&'}) + 1; n > MaxFormParams {
		return fmt.Errorf("%w: %d parameters, at most %d", ErrMalformed, n, MaxFormParams)
	}
	seen := make(map[string]bool, MaxFormParams)
	for rest := body; len(rest) > 0; {
		var pair []byte
		pair, rest, _ = bytes.Cut(rest, []byte{'&'})
		if len(pair) == 0 {
			continue // url.ParseQuery skips empty pairs too
		}
		rawName, rawValue, _ := bytes.Cut(pair, []byte{'='})
		name, err := url.QueryUnescape(string(rawName))
		if err != nil {
			continue
		}
		switch {
		case len(name) > MaxParamName:
			return fmt.Errorf("%w: a parameter name of %d bytes, at most %d", ErrMalformed, len(name), MaxParamName)
		case decodedLen(rawValue) > MaxParamValue:
			return fmt.Errorf("%w: parameter %q has %d bytes, at most %d", ErrMalformed, name, decodedLen(rawValue), MaxParamValue)
		case seen[name]:
			return fmt.Errorf("%w: parameter %q given twice", ErrMalformed, name)
		}
		seen[name] = true
	}
	return nil
}

// decodedLen is the length of a well-formed form-encoded string once
// decoded: each %XX escape is one byte.
func decodedLen(raw []byte) int {
	return len(raw) - 2*bytes.Count(raw, []byte{'%'})
}
