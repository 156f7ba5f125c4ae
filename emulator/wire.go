package emulator

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/assignd/assignd/taskrouter"
)

// SID prefixes, as Twilio assigns them (taskrouter defines them).
const (
	prefixAccount     = taskrouter.PrefixAccount
	prefixWorkspace   = taskrouter.PrefixWorkspace
	prefixActivity    = taskrouter.PrefixActivity
	prefixWorker      = taskrouter.PrefixWorker
	prefixQueue       = taskrouter.PrefixQueue
	prefixWorkflow    = taskrouter.PrefixWorkflow
	prefixTask        = taskrouter.PrefixTask
	prefixReservation = taskrouter.PrefixReservation
	prefixEvent       = taskrouter.PrefixEvent
	prefixChannel     = taskrouter.PrefixChannel
)

// newSid returns a random SID with the prefix.
func newSid(prefix string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return prefix + hex.EncodeToString(b)
}

// StableSid derives a SID from names, so a workspace loaded twice (or on
// another machine) has the same SIDs: prefix + the first 32 hex digits of
// SHA-256 over the parts joined by "/".
func StableSid(prefix string, parts ...string) string {
	sum := sha256.Sum256([]byte(prefix + "/" + strings.Join(parts, "/")))
	return prefix + hex.EncodeToString(sum[:16])
}

// twilioTime formats t as TaskRouter does in JSON (ISO 8601, UTC, seconds).
func twilioTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

// nullable returns nil for "" so the JSON shows null, as Twilio's does.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// apiError is a Twilio REST error.
type apiError struct {
	Status  int
	Code    int
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %d: %s", e.Status, e.Code, e.Message) }

func errNotFound(path string) *apiError {
	return &apiError{http.StatusNotFound, 20404, "The requested resource " + path + " was not found"}
}

func errParam(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, 20001, fmt.Sprintf(format, args...)}
}

func errMissing(name string) *apiError {
	return errParam("Missing required parameter %s in the post body", name)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, &apiError{http.StatusInternalServerError, 20500, "encoding response: " + err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, e *apiError) {
	b, _ := json.Marshal(map[string]any{
		"code": e.Code, "message": e.Message, "status": e.Status,
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", e.Code),
	})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	_, _ = w.Write(b)
}

// form reads the request's form-encoded body (and query), answering a
// Twilio error when it cannot.
func form(r *http.Request) (url.Values, *apiError) {
	if err := r.ParseForm(); err != nil {
		return nil, errParam("Invalid form body: %v", err)
	}
	return r.Form, nil
}

// formParams is the request's form as params, where a create or update
// starts; what it reads is recorded in r's reads (strict.go).
func formParams(r *http.Request) (*params, *apiError) {
	v, err := form(r)
	if err != nil {
		return nil, err
	}
	return &params{v: v, r: r}, nil
}

// params reads typed optional parameters, remembering the first bad one.
// Every accessor goes through has or get, which record the read.
type params struct {
	v   url.Values
	r   *http.Request // where reads are recorded; nil: not recorded
	err *apiError
}

func (p *params) has(k string) bool {
	p.mark(k)
	_, ok := p.v[k]
	return ok
}

func (p *params) str(k string) string {
	p.mark(k)
	return p.v.Get(k)
}

func (p *params) mark(k string) {
	if p.r != nil {
		markRead(p.r, k)
	}
}

// assign sets *dst to parameter k when the request has it, even empty:
// an empty value is how Twilio's updates clear a field.
func (p *params) assign(k string, dst *string) {
	if p.has(k) {
		*dst = p.str(k)
	}
}

func (p *params) required(k string) string {
	v := p.str(k)
	if v == "" && p.err == nil {
		p.err = errMissing(k)
	}
	return v
}

func (p *params) integer(k string, def int) int { return typed(p, k, def, strconv.Atoi, "an integer") }

func (p *params) boolean(k string, def bool) bool {
	return typed(p, k, def, strconv.ParseBool, "a boolean")
}

// typed is parameter k parsed, def when absent; a value parse refuses is
// remembered as Twilio's 400 saying it is not what.
func typed[T any](p *params, k string, def T, parse func(string) (T, error), what string) T {
	if !p.has(k) {
		return def
	}
	v, err := parse(p.str(k))
	if err != nil && p.err == nil {
		p.err = errParam("Invalid %s: %q is not %s", k, p.v.Get(k), what)
	}
	return v
}

func (p *params) oneOf(k string, allowed ...string) string {
	v := p.str(k)
	if v == "" {
		return ""
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	if p.err == nil {
		p.err = errParam("Invalid %s %q: must be one of %s", k, v, strings.Join(allowed, ", "))
	}
	return v
}

func (p *params) jsonObject(k string) (string, map[string]any) {
	raw := p.str(k)
	if raw == "" {
		return "{}", map[string]any{}
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil || m == nil {
		if p.err == nil {
			p.err = errParam("Invalid %s: must be a JSON object", k)
		}
		return "{}", map[string]any{}
	}
	return raw, m
}

// page is a list answer in Twilio's shape: the resource key and meta.
func page[T any](r *http.Request, base, key string, items []T, render func(T) map[string]any) (map[string]any, *apiError) {
	// PageToken is not read, so it is refused: the emulator's pages are
	// offsets (Page, PageSize) and its next_page_url carries no token, so a
	// client sending one holds a cursor from elsewhere.
	size, pageNo := 50, 0
	if v := query(r, "PageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return nil, errParam("Invalid PageSize %q: must be 1 to 1000", v)
		}
		size = n
	}
	if v := query(r, "Page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, errParam("Invalid Page %q", v)
		}
		pageNo = n
	}
	pageURL := func(n int) string {
		u := *r.URL
		qq := u.Query()
		qq.Set("PageSize", strconv.Itoa(size))
		qq.Set("Page", strconv.Itoa(n))
		qq.Del("PageToken")
		return base + u.Path + "?" + qq.Encode()
	}
	start := min(pageNo*size, len(items))
	end := min(start+size, len(items))
	out := make([]map[string]any, 0, end-start)
	for _, it := range items[start:end] {
		out = append(out, render(it))
	}
	meta := map[string]any{
		"page": pageNo, "page_size": size, "key": key,
		"first_page_url": pageURL(0), "url": pageURL(pageNo),
		"previous_page_url": nil, "next_page_url": nil,
	}
	if pageNo > 0 {
		meta["previous_page_url"] = pageURL(pageNo - 1)
	}
	if end < len(items) {
		meta["next_page_url"] = pageURL(pageNo + 1)
	}
	return map[string]any{key: out, "meta": meta}, nil
}
