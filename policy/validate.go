package policy

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// FieldError is one field of an instruction that TaskRouter would refuse.
type FieldError struct {
	Field string // JSON name, e.g. "activity_sid"
	Msg   string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

// ValidationError lists every invalid field of one instruction.
type ValidationError struct {
	Instruction string
	Fields      []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Error()
	}
	return fmt.Sprintf("invalid %s instruction: %s", e.Instruction, strings.Join(parts, "; "))
}

// FieldErrors returns the field errors inside err, if it is a validation error.
func FieldErrors(err error) []FieldError {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve.Fields
	}
	return nil
}

// checker collects field errors for one instruction.
type checker struct {
	errs []FieldError
}

func (c *checker) add(field, format string, args ...any) {
	c.errs = append(c.errs, FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) url(field, v string) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		c.add(field, "want an absolute http(s) URL, got %q", truncate(v, 60))
	}
}

// oneOf checks one value; an empty list item is skipped, as ReservationUpdateForm drops it.
func (c *checker) oneOf(field, v string, allowed []string) {
	if v != "" && !slices.Contains(allowed, v) {
		c.add(field, "want one of %s, got %q", strings.Join(allowed, ", "), truncate(v, 40))
	}
}

func (c *checker) err(name string) error {
	if len(c.errs) == 0 {
		return nil
	}
	return &ValidationError{Instruction: name, Fields: c.errs}
}

// Each Validate checks the fields against their definitions (see fields.go).

func (i Accept) Validate() error     { return validate(i) }
func (i Reject) Validate() error     { return validate(i) }
func (i Dequeue) Validate() error    { return validate(i) }
func (i Call) Validate() error       { return validate(i) }
func (i Redirect) Validate() error   { return validate(i) }
func (i Conference) Validate() error { return validate(i) }
