package async

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/assignd/assignd/internal/needs"
	"github.com/assignd/assignd/policy"
	"github.com/assignd/assignd/policy/policytest"
)

// The conformance tests check our instruction definitions against Twilio's
// own OpenAPI description of TaskRouter, read from the shared reference
// directory next to the repository (never copied into it).

const (
	confAccount     = "AC0123456789abcdef0123456789abcdef"
	confToken       = "conformancetoken0123"
	confWorkspace   = "WS0123456789abcdef0123456789abcdef"
	confTask        = "WT0123456789abcdef0123456789abcdef"
	confReservation = "WR0123456789abcdef0123456789abcdef"
	updatePath      = "/v1/Workspaces/{WorkspaceSid}/Tasks/{TaskSid}/Reservations/{Sid}"
)

// taskrouterSpec loads Twilio's OpenAPI description of TaskRouter. Without
// it the test skips, except under CI (needs.TwilioOAI).
func taskrouterSpec(t *testing.T) *openapi3.T {
	t.Helper()
	path := needs.TaskRouterSpec(t)
	doc, err := openapi3.NewLoader().LoadFromFile(path)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	return doc
}

// updateSchema is the form body schema of the Reservations update.
func updateSchema(t *testing.T, doc *openapi3.T) *openapi3.Schema {
	t.Helper()
	item := doc.Paths.Find(updatePath)
	if item == nil || item.Post == nil || item.Post.RequestBody == nil {
		t.Fatalf("spec has no POST %s with a body", updatePath)
	}
	mt := item.Post.RequestBody.Value.Content.Get("application/x-www-form-urlencoded")
	if mt == nil || mt.Schema == nil {
		t.Fatal("update body is not a form")
	}
	return mt.Schema.Value
}

// capture is a Reservations endpoint that keeps each update request it gets
// and answers like Twilio does for an applied update.
type capture struct {
	mu   sync.Mutex
	reqs []capturedRequest
}

type capturedRequest struct {
	method, path string
	header       http.Header
	body         []byte
}

func (c *capture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.reqs = append(c.reqs, capturedRequest{r.Method, r.URL.Path, r.Header.Clone(), body})
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"sid":"`+confReservation+`","reservation_status":"accepted"}`)
}

func (c *capture) last(t *testing.T) capturedRequest {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.reqs) == 0 {
		t.Fatal("no request reached the server")
	}
	return c.reqs[len(c.reqs)-1]
}

// validateAgainstSpec checks one captured request with kin-openapi as if it
// had gone to taskrouter.twilio.com.
func validateAgainstSpec(router routers.Router, cr capturedRequest) error {
	req, err := http.NewRequest(cr.method, "https://taskrouter.twilio.com"+cr.path, strings.NewReader(string(cr.body)))
	if err != nil {
		return err
	}
	req.Header = cr.header.Clone()
	route, pathParams, err := router.FindRoute(req)
	if err != nil {
		return err
	}
	return openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
		Request:    req,
		PathParams: pathParams,
		Route:      route,
		Options: &openapi3filter.Options{
			MultiError: true,
			AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
				if u, p, ok := in.RequestValidationInput.Request.BasicAuth(); !ok || u != confAccount || p != confToken {
					return errors.New("no basic auth with the account credentials")
				}
				return nil
			},
			SchemaValidationOptions: []openapi3.SchemaValidationOption{
				openapi3.EnableFormatValidation(),
				openapi3.WithStringFormatValidator("uri", uriFormat{}),
				openapi3.WithStringFormatValidator("http-method", openapi3.NewRegexpFormatValidator(`^(GET|POST|PUT|DELETE|HEAD|PATCH)$`)),
			},
		},
	})
}

type uriFormat struct{}

func (uriFormat) Validate(v string) error {
	u, err := url.Parse(v)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return errors.New("not an absolute URI")
	}
	return nil
}

// TestUpdateRequestsConformToTwilioSpec sends, for all six instructions with
// every field set, the real update request (policy → twilio-go → HTTP) to a
// capturing server and validates it against Twilio's OpenAPI description.
func TestUpdateRequestsConformToTwilioSpec(t *testing.T) {
	doc := taskrouterSpec(t)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	c := &capture{}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	t.Setenv("TWILIO_EDGE", "")
	t.Setenv("TWILIO_REGION", "")
	api, err := NewAPI(srv.URL, confAccount, confAccount, confToken, nil)
	if err != nil {
		t.Fatal(err)
	}

	for _, name := range policy.InstructionNames() {
		ins, err := policytest.Full(name)
		if err != nil {
			t.Fatal(err)
		}
		res := api.Update(context.Background(), confWorkspace, confTask, confReservation, ins)
		if res.Class != Applied {
			t.Errorf("%s: update %v (%v)", name, res.Class, res.Err)
			continue
		}
		cr := c.last(t)
		if err := validateAgainstSpec(router, cr); err != nil {
			t.Errorf("%s: request does not conform to Twilio's spec:\n%s\n%v", name, cr.body, err)
		}
		// Every field reached the wire, with the value policy gives it.
		sent, err := url.ParseQuery(string(cr.body))
		if err != nil {
			t.Fatalf("%s: body %q: %v", name, cr.body, err)
		}
		want, _ := policy.ReservationUpdateForm(ins)
		for k, v := range want {
			if !slices.Equal(sent[k], v) {
				t.Errorf("%s: sent %s=%q, want %q", name, k, sent[k], v)
			}
		}
		if len(sent) != len(want) {
			t.Errorf("%s: sent %d parameters, want %d: %v", name, len(sent), len(want), sent)
		}
	}

	// The validator is not vacuous: what Twilio refuses fails it.
	for _, bad := range []string{
		"Instruction=conference&ConferenceStatusCallbackEvent=modify",
		"Instruction=dequeue&DequeueTimeout=soon",
		"Instruction=redirect&RedirectCallSid=../../Calls",
		"ReservationStatus=maybe",
	} {
		cr := capturedRequest{http.MethodPost, "/v1/Workspaces/" + confWorkspace + "/Tasks/" + confTask + "/Reservations/" + confReservation,
			http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte(bad)}
		cr.header.Set("Authorization", "Basic "+basic(confAccount, confToken))
		if err := validateAgainstSpec(router, cr); err == nil {
			t.Errorf("%s passed validation", bad)
		}
	}
}

func basic(u, p string) string {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(u, p)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

// canBe is the list of `values` in a parameter description's "Can be: …"
// sentence, the only place the spec lists some of Twilio's enums.
var canBe = regexp.MustCompile("`([^`]+)`")

func describedValues(desc string) []string {
	_, after, ok := strings.Cut(desc, "Can be")
	if !ok {
		return nil
	}
	if i := strings.Index(after, ". "); i >= 0 {
		after = after[:i]
	}
	var out []string
	for _, m := range canBe.FindAllStringSubmatch(after, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

// TestFieldDefinitionsMatchTwilioSpec: each field's REST parameter exists in
// the spec with the same type, and each enum, SID prefix, URL check and
// range equals what the spec says, so our checks cannot drift from Twilio's.
func TestFieldDefinitionsMatchTwilioSpec(t *testing.T) {
	t.Parallel()
	body := updateSchema(t, taskrouterSpec(t))
	// The value checks the spec gives no list for; their source is Twilio's
	// assignment-instruction docs (shared/taskrouter.md §3).
	fromTaskrouterNotes := map[string]bool{
		"dequeue.record":                 true,
		"dequeue.status_callback_events": true,
		"call.record":                    true,
	}
	covered := map[string]bool{}
	for _, name := range policy.InstructionNames() {
		key, value, _ := policy.RESTIdentity(name)
		covered[key] = true
		for _, f := range policy.Fields(name) {
			covered[f.REST] = true
		}
		prop := body.Properties[key]
		if prop == nil {
			t.Errorf("%s: spec has no %s", name, key)
		} else if e := prop.Value.Enum; key == "ReservationStatus" && !slices.Contains(e, any(value)) {
			t.Errorf("%s: %s=%s not in the spec's %v", name, key, value, e)
		}
		for _, f := range policy.Fields(name) {
			where := name + "." + f.JSON + " (" + f.REST + ")"
			ref := body.Properties[f.REST]
			if ref == nil {
				t.Errorf("%s: not a parameter of the spec", where)
				continue
			}
			s := ref.Value
			wantType := map[policy.Kind]string{policy.KindString: "string", policy.KindBool: "boolean", policy.KindInt: "integer", policy.KindList: "array"}[f.Kind]
			if !s.Type.Is(wantType) {
				t.Errorf("%s: spec type %v, ours %s", where, s.Type, wantType)
				continue
			}
			item := s
			if f.Kind == policy.KindList {
				item = s.Items.Value
			}
			var specEnum []string
			for _, v := range item.Enum {
				specEnum = append(specEnum, v.(string))
			}
			if specEnum == nil {
				specEnum = describedValues(s.Description)
			}
			switch {
			case f.Kind == policy.KindInt && specEnum != nil:
				if lo, hi := f.Min, f.Max; len(specEnum) != 2 || specEnum[0] != itoa(lo) || specEnum[1] != itoa(hi) {
					t.Errorf("%s: spec range %v, ours %d..%d", where, specEnum, lo, hi)
				}
			case specEnum != nil:
				if !sameSet(specEnum, f.Enum) {
					t.Errorf("%s: spec allows %v, our %s check allows %v", where, specEnum, f.EnumName, f.Enum)
				}
			case f.Enum != nil && !fromTaskrouterNotes[name+"."+f.JSON]:
				t.Errorf("%s: our %s check has no source: the spec lists no values", where, f.EnumName)
			}
			if pat := item.Pattern; (pat != "") != (f.SidPrefix != "") || pat != "" && pat != "^"+f.SidPrefix+"[0-9a-fA-F]{32}$" {
				t.Errorf("%s: spec pattern %q, our SID prefix %q", where, pat, f.SidPrefix)
			}
			if (item.Format == "uri") != f.URL {
				t.Errorf("%s: spec format %q, our URL check %v", where, item.Format, f.URL)
			}
			if strings.Contains(s.Description, "Contact URI") && !f.Contact {
				t.Errorf("%s: the spec calls it a Contact URI, we do not check it as one", where)
			}
		}
	}
	// And the other way: every parameter Twilio documents has a field.
	for param := range body.Properties {
		if !covered[param] {
			t.Errorf("the spec's update parameter %s has no instruction field", param)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestTwilioParamsRefusesUnknownParameter: a form parameter twilio-go has no
// field for is an error, never dropped on the way to Twilio.
func TestTwilioParamsRefusesUnknownParameter(t *testing.T) {
	t.Parallel()
	if _, err := twilioParams(url.Values{"Instruction": {"call"}, "CallFromm": {"+15005550006"}}); err == nil || !strings.Contains(err.Error(), "CallFromm") {
		t.Errorf("err = %v, want one naming CallFromm", err)
	}
	if _, err := twilioParams(url.Values{"CallAccept": {"perhaps"}}); err == nil {
		t.Error("a non-boolean CallAccept was mapped")
	}
}
