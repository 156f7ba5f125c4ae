// Package telemetry sets up OpenTelemetry tracing the standard way, from the
// OTEL_* environment variables, and the small adapters the rest of the
// service needs: a zerolog hook that puts trace_id on log lines and an HTTP
// transport that makes each outgoing request a client span. Without an OTLP
// endpoint nothing is installed: the provider is OTel's no-op, so the
// callback's hot path pays only no-op calls.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/assignd/assignd/config"
)

// DefaultServiceName names the service in traces unless OTEL_SERVICE_NAME does.
const DefaultServiceName = "assignd"

// The OTEL_* variables this package reads itself (from the environ it is
// given); the exporter and SDK read the rest of the standard ones
// (OTEL_EXPORTER_OTLP_HEADERS, OTEL_TRACES_SAMPLER, OTEL_BSP_*, …) from the
// process environment.
const (
	EnvEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	EnvProtocol       = "OTEL_EXPORTER_OTLP_PROTOCOL"
	EnvTracesProtocol = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	EnvServiceName    = "OTEL_SERVICE_NAME"
	EnvSDKDisabled    = "OTEL_SDK_DISABLED"
	EnvTracesExporter = "OTEL_TRACES_EXPORTER"
)

// Tracing is the configured tracer provider.
type Tracing struct {
	// Provider is the SDK's provider exporting over OTLP/HTTP, or OTel's
	// no-op provider when tracing is off.
	Provider trace.TracerProvider
	// Enabled reports whether spans are exported. Callers install tracing
	// hooks (River middleware, log hook) only when it is true.
	Enabled bool
	// Endpoint is where spans go, for the start-up log line.
	Endpoint string
	// Shutdown flushes buffered spans; call it last on the way out.
	Shutdown func(context.Context) error
}

// Check reports every malformed OTEL_* value Setup would refuse, each a
// *config.Error naming the variable (nil when there is none). It exists so
// start-up can list these with config's problems at once, instead of the
// user fixing config first and only then learning about tracing.
func Check(environ []string) config.Errors {
	_, errs := settings(lookup(environ))
	return errs
}

// settings decides from the OTEL_* variables whether tracing is on and where
// spans go (endpoint is "" when off), collecting every problem.
func settings(env map[string]string) (endpoint string, errs config.Errors) {
	if strings.EqualFold(env[EnvSDKDisabled], "true") || strings.EqualFold(env[EnvTracesExporter], "none") {
		return "", nil
	}
	if v := env[EnvTracesExporter]; v != "" && v != "otlp" {
		errs = append(errs, &config.Error{Var: EnvTracesExporter, Msg: fmt.Sprintf("%q is not supported: use otlp (the default) or none", v)})
	}
	endpoint, err := endpointURL(env)
	if err != nil {
		errs = append(errs, err)
	}
	if endpoint == "" && err == nil {
		return "", errs
	}
	for _, name := range []string{EnvTracesProtocol, EnvProtocol} {
		if v := env[name]; v != "" && v != "http/protobuf" {
			errs = append(errs, &config.Error{Var: name, Msg: fmt.Sprintf("%q is not supported: assignd exports OTLP over HTTP, set http/protobuf (or leave it unset)", v)})
		}
	}
	if len(errs) > 0 {
		return "", errs
	}
	return endpoint, nil
}

// Setup reads the OTEL_* variables in environ. Tracing is on when
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT is set
// (and neither OTEL_SDK_DISABLED=true nor OTEL_TRACES_EXPORTER=none says
// otherwise); version becomes service.version. Malformed values are
// config.Errors naming each variable (see Check).
func Setup(ctx context.Context, environ []string, version string) (*Tracing, error) {
	env := lookup(environ)
	off := &Tracing{Provider: noop.NewTracerProvider(), Shutdown: func(context.Context) error { return nil }}
	endpoint, errs := settings(env)
	if len(errs) > 0 {
		return nil, errs
	}
	if endpoint == "" {
		return off, nil
	}

	// The endpoint comes from environ so that it is the one this process
	// was given; headers, timeouts and TLS settings the exporter reads
	// itself.
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, fmt.Errorf("otlp trace exporter: %w", err)
	}
	name := env[EnvServiceName]
	if name == "" {
		name = DefaultServiceName
	}
	// Later sources win: the default name, then OTEL_RESOURCE_ATTRIBUTES,
	// then OTEL_SERVICE_NAME.
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(DefaultServiceName), semconv.ServiceVersion(version)),
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
		resource.WithAttributes(semconv.ServiceName(name)),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("otel resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Tracing{Provider: tp, Enabled: true, Endpoint: endpoint, Shutdown: tp.Shutdown}, nil
}

// endpointURL returns the traces endpoint as a full URL: the per-signal
// variable as given, or the base one with /v1/traces appended, as the OTLP
// specification says.
func endpointURL(env map[string]string) (string, *config.Error) {
	name, v := EnvTracesEndpoint, env[EnvTracesEndpoint]
	if v == "" {
		name, v = EnvEndpoint, env[EnvEndpoint]
		if v == "" {
			return "", nil
		}
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", &config.Error{Var: name, Msg: fmt.Sprintf("%q: want an http(s) URL such as http://localhost:4318", v)}
	}
	if name == EnvEndpoint {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
	}
	return u.String(), nil
}

func lookup(environ []string) map[string]string {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "OTEL_") {
			env[k] = strings.TrimSpace(v)
		}
	}
	return env
}
