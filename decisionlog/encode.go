package decisionlog

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// appendPayload writes the data document of e. It is what the writer does
// for every callback, so it appends by hand instead of going through
// encoding/json's reflection (which cost as much as the SQL insert); scan
// reads it back with encoding/json. The JSON fields (instruction, answer,
// attributes) are already JSON: assignd encoded them or parsed them.
func appendPayload(b []byte, e *Entry) []byte {
	b = append(b, '{')
	b = appendString(b, "mode", string(e.Mode), true)
	b = appendString(b, "error", e.Error, false)
	b = appendString(b, "checked_url", e.CheckedURL, false)
	b = appendString(b, "account_sid", e.AccountSid, false)
	b = appendString(b, "workspace_sid", e.WorkspaceSid, false)
	b = appendString(b, "workflow_sid", e.WorkflowSid, false)
	b = appendString(b, "timestamp", e.Timestamp, false)
	b = appendInt(b, "task_age", int64(e.TaskAge))
	b = appendInt(b, "task_priority", int64(e.TaskPriority))
	b = appendInt(b, "latency_us", e.Latency.Microseconds())
	if e.Async {
		b = append(b, `,"async":true`...)
	}
	if e.Duplicate {
		b = append(b, `,"duplicate":true`...)
	}
	if e.Delay != 0 {
		b = appendInt(b, "delay_ms", e.Delay.Milliseconds())
	}
	if e.Skipped != 0 {
		b = appendInt(b, "skipped", e.Skipped)
	}
	b = appendRaw(b, "instruction_json", e.InstructionJSON)
	b = appendRaw(b, "answer", e.Answer)
	// Attributes and parameters come from entry, which only sets them to
	// valid JSON; they are most of the document, so they are not checked
	// again here.
	b = appendTrusted(b, "task_attributes", e.TaskAttributes)
	b = appendTrusted(b, "worker_attributes", e.WorkerAttributes)
	b = appendTrusted(b, "params", e.Params)
	b = append(b, `,"steps":[`...)
	for i, s := range e.Steps {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		b = appendString(b, "rule", s.Rule, true)
		if s.Matched {
			b = append(b, `,"matched":true`...)
		}
		b = appendString(b, "missing", s.Missing, false)
		b = appendString(b, "error", s.Err, false)
		b = append(b, '}')
	}
	return append(b, ']', '}')
}

func appendInt(b []byte, key string, v int64) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendInt(b, v, 10)
}

func appendRaw(b []byte, key string, v json.RawMessage) []byte {
	if len(v) == 0 {
		return b
	}
	if !json.Valid(v) { // never expected; do not corrupt the document
		return appendString(b, key+"_invalid", string(v), false)
	}
	return appendTrusted(b, key, v)
}

// appendTrusted appends "key":v for v known to be valid JSON.
func appendTrusted(b []byte, key string, v json.RawMessage) []byte {
	if len(v) == 0 {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return append(b, v...)
}

// appendString appends "key":"value" (first: without the leading comma);
// an empty value is left out unless first.
func appendString(b []byte, key, v string, first bool) []byte {
	if v == "" && !first {
		return b
	}
	if !first {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendQuoted(b, v)
}

const hex = "0123456789abcdef"

// plain marks the bytes a JSON string holds as they are: printable ASCII
// but the quote and the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendQuoted appends s as a JSON string. Runs of plain bytes (all of a
// SID or a URL) are appended at once; invalid UTF-8 goes through
// encoding/json, which replaces it.
func appendQuoted(b []byte, s string) []byte {
	start := len(b)
	b = append(b, '"')
	run, checked := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if plain[c] {
			continue
		}
		if c >= 0x80 {
			// The first non-ASCII byte: everything before it was ASCII,
			// so the rest decides whether s is valid.
			if !checked && !utf8.ValidString(s[i:]) {
				q, _ := json.Marshal(s)
				return append(b[:start], q...)
			}
			checked = true
			continue
		}
		b = append(b, s[run:i]...)
		if c < 0x20 {
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		} else {
			b = append(b, '\\', c)
		}
		run = i + 1
	}
	b = append(b, s[run:]...)
	return append(b, '"')
}
