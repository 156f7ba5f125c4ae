package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"go.yaml.in/yaml/v3"

	"github.com/assignd/assignd/admin"
	"github.com/assignd/assignd/config"
	"github.com/assignd/assignd/handlers"
)

// The deployment files must agree with the service's own defaults: the port
// it listens on, the health path it serves, and a warm instance.
func TestDeploymentFilesAgreeWithConfig(t *testing.T) {
	t.Parallel()
	defaults, err := config.Load(nil)
	if err != nil {
		t.Fatal(err)
	}

	var fly struct {
		KillTimeout string            `toml:"kill_timeout"`
		Env         map[string]string `toml:"env"`
		Metrics     struct {
			Port int    `toml:"port"`
			Path string `toml:"path"`
		} `toml:"metrics"`
		HTTPService struct {
			InternalPort       int    `toml:"internal_port"`
			ForceHTTPS         bool   `toml:"force_https"`
			AutoStopMachines   string `toml:"auto_stop_machines"`
			MinMachinesRunning int    `toml:"min_machines_running"`
			Checks             []struct {
				Path   string `toml:"path"`
				Method string `toml:"method"`
			} `toml:"checks"`
		} `toml:"http_service"`
		Mounts struct {
			Destination string `toml:"destination"`
		} `toml:"mounts"`
	}
	if _, err := toml.DecodeFile("../../fly.toml", &fly); err != nil {
		t.Fatalf("fly.toml: %v", err)
	}
	hs := fly.HTTPService
	if hs.InternalPort != defaults.Port || fly.Env["PORT"] != strconv.Itoa(defaults.Port) {
		t.Errorf("fly.toml port %d / PORT %q, want %d", hs.InternalPort, fly.Env["PORT"], defaults.Port)
	}
	if !hs.ForceHTTPS || hs.MinMachinesRunning < 1 || hs.AutoStopMachines != "off" {
		t.Errorf("fly.toml: force_https %v, min_machines_running %d, auto_stop %q", hs.ForceHTTPS, hs.MinMachinesRunning, hs.AutoStopMachines)
	}
	if len(hs.Checks) == 0 || hs.Checks[0].Path != handlers.HealthPath {
		t.Errorf("fly.toml health check: %+v", hs.Checks)
	}
	if fly.Mounts.Destination != fly.Env["DATA_DIR"] || fly.Env["DATA_DIR"] != "/data" {
		t.Errorf("fly.toml mounts %q, DATA_DIR %q", fly.Mounts.Destination, fly.Env["DATA_DIR"])
	}
	// fly.toml's environment plus the secrets the README sets is a complete
	// production configuration (the policy file is the image's; here a
	// starter policy stands in at that path's place).
	flyEnv := []string{"FLY_APP_NAME=assignd", "TWILIO_ACCOUNT_SID=" + testAccount, "TWILIO_AUTH_TOKEN=" + testToken}
	for k, v := range fly.Env {
		flyEnv = append(flyEnv, k+"="+v)
	}
	flyEnv = append(flyEnv, "POLICY_FILE="+starterFile(t), "DATA_DIR="+t.TempDir())
	cfg, err := config.Load(flyEnv)
	if err != nil || cfg.Mode != config.Production || !strings.HasPrefix(fly.Env["PUBLIC_URL"], "https://") {
		t.Errorf("fly.toml env is not a production configuration: %v", err)
	}
	if _, port, _ := net.SplitHostPort(fly.Env["ADMIN_ADDR"]); port != strconv.Itoa(fly.Metrics.Port) || fly.Metrics.Path != admin.MetricsPath {
		t.Errorf("fly.toml [metrics] %+v does not scrape ADMIN_ADDR %q", fly.Metrics, fly.Env["ADMIN_ADDR"])
	}

	// Shutdown: every stage (callbacks, REST calls, the decision log's last
	// batch, the last spans) together fits inside Fly's kill_timeout and
	// Cloud Run's fixed 10 s, and the files say what the code does.
	const cloudRunKillAfter = 10 * time.Second // SIGTERM → SIGKILL, not configurable
	kill, err := time.ParseDuration(fly.KillTimeout)
	var sum time.Duration
	for _, st := range shutdownStages() {
		if st <= 0 {
			t.Errorf("a shutdown stage has no time: %v", shutdownStages())
		}
		sum += st
	}
	if err != nil || sum != drainBudget || sum >= kill || sum >= cloudRunKillAfter {
		t.Errorf("shutdown stages %v sum to %s (drainBudget %s, last stage ends at %s) vs fly kill_timeout %q (%v) and Cloud Run's %s",
			shutdownStages(), sum, drainBudget, tracingFlushEnd, fly.KillTimeout, err, cloudRunKillAfter)
	}

	data, err := os.ReadFile("../../deploy/cloudrun/service.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var run struct {
		Spec struct {
			Template struct {
				Metadata struct {
					Annotations map[string]string `yaml:"annotations"`
				} `yaml:"metadata"`
				Spec struct {
					Containers []struct {
						Ports []struct {
							ContainerPort int `yaml:"containerPort"`
						} `yaml:"ports"`
						Env []struct {
							Name      string `yaml:"name"`
							Value     string `yaml:"value"`
							ValueFrom *struct {
								SecretKeyRef struct{ Name string } `yaml:"secretKeyRef"`
							} `yaml:"valueFrom"`
						} `yaml:"env"`
						VolumeMounts []struct {
							Name      string `yaml:"name"`
							MountPath string `yaml:"mountPath"`
						} `yaml:"volumeMounts"`
						StartupProbe struct {
							HTTPGet struct {
								Path string
								Port int
							} `yaml:"httpGet"`
						} `yaml:"startupProbe"`
						LivenessProbe struct {
							HTTPGet struct {
								Path string
								Port int
							} `yaml:"httpGet"`
						} `yaml:"livenessProbe"`
					} `yaml:"containers"`
					Volumes []struct {
						Name   string `yaml:"name"`
						Secret struct {
							SecretName string `yaml:"secretName"`
							Items      []struct{ Key, Path string }
						} `yaml:"secret"`
					} `yaml:"volumes"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(data, &run); err != nil {
		t.Fatalf("service.yaml: %v", err)
	}
	tpl := run.Spec.Template
	if tpl.Metadata.Annotations["autoscaling.knative.dev/minScale"] != "1" || tpl.Metadata.Annotations["run.googleapis.com/cpu-throttling"] != "false" {
		t.Errorf("service.yaml annotations: %v", tpl.Metadata.Annotations)
	}
	if len(tpl.Spec.Containers) != 1 {
		t.Fatalf("service.yaml: %d containers", len(tpl.Spec.Containers))
	}
	c := tpl.Spec.Containers[0]
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != defaults.Port {
		t.Errorf("service.yaml ports: %+v", c.Ports)
	}
	if c.LivenessProbe.HTTPGet.Path != handlers.HealthPath || c.StartupProbe.HTTPGet.Path != handlers.ReadyPath ||
		c.LivenessProbe.HTTPGet.Port != defaults.Port || c.StartupProbe.HTTPGet.Port != defaults.Port {
		t.Errorf("service.yaml probes: %+v %+v", c.LivenessProbe, c.StartupProbe)
	}
	// Plain values as written, secrets with well-formed stand-ins: a complete
	// production configuration that uses PUBLIC_URL, not TRUST_PROXY.
	secrets := map[string]string{"TWILIO_ACCOUNT_SID": testAccount, "TWILIO_AUTH_TOKEN": testToken, "DATABASE_URL": "postgres://db/assignd"}
	env := map[string]string{}
	runEnv := []string{"K_SERVICE=assignd"}
	for _, e := range c.Env {
		v := e.Value
		if e.ValueFrom != nil {
			v = secrets[e.Name]
		}
		env[e.Name] = v
		runEnv = append(runEnv, e.Name+"="+v)
	}
	runEnv = append(runEnv, "POLICY_FILE="+starterFile(t))
	if cfg, err := config.Parse(runEnv); err != nil || cfg.Public == nil || cfg.TrustProxy != "" {
		t.Errorf("service.yaml env: %v (want PUBLIC_URL, not TRUST_PROXY)", err)
	}
	if _, err := config.Load(runEnv); err != nil {
		t.Errorf("service.yaml env is not a production configuration: %v", err)
	}
	// The admin listener is set (production leaves it off otherwise) on
	// loopback, where the README's Managed Prometheus sidecar scrapes it.
	readme := string(mustRead(t, "../../README.md"))
	host, port, err := net.SplitHostPort(env["ADMIN_ADDR"])
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() ||
		!strings.Contains(readme, "`service.yaml` sets `ADMIN_ADDR="+env["ADMIN_ADDR"]+"`") ||
		!strings.Contains(readme, "scraping port `"+port+"`") {
		t.Errorf("service.yaml ADMIN_ADDR %q: want loopback, and the README's Cloud Run section to name it and its port", env["ADMIN_ADDR"])
	}
	// Every secret service.yaml reads is one the README's commands create.
	for _, e := range c.Env {
		if e.ValueFrom != nil && !strings.Contains(readme, "gcloud secrets create "+e.ValueFrom.SecretKeyRef.Name+" ") {
			t.Errorf("service.yaml reads secret %q, which the README never creates", e.ValueFrom.SecretKeyRef.Name)
		}
	}
	for _, v := range tpl.Spec.Volumes {
		if !strings.Contains(readme, "gcloud secrets create "+v.Secret.SecretName+" ") {
			t.Errorf("service.yaml mounts secret %q, which the README never creates", v.Secret.SecretName)
		}
	}
	// The policy is the mounted secret's file.
	if len(c.VolumeMounts) != 1 || len(tpl.Spec.Volumes) != 1 || c.VolumeMounts[0].Name != tpl.Spec.Volumes[0].Name ||
		len(tpl.Spec.Volumes[0].Secret.Items) != 1 ||
		env["POLICY_FILE"] != c.VolumeMounts[0].MountPath+"/"+tpl.Spec.Volumes[0].Secret.Items[0].Path {
		t.Errorf("service.yaml: POLICY_FILE %q is not the mounted policy secret: %+v %+v", env["POLICY_FILE"], c.VolumeMounts, tpl.Spec.Volumes)
	}
	if !bytes.Contains(data, []byte("assignd drains within "+drainBudget.String())) || !strings.Contains(string(mustRead(t, "../../fly.toml")), "assignd drains within "+drainBudget.String()) {
		t.Errorf("service.yaml and fly.toml must say the drain budget, %s", drainBudget)
	}

	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CGO_ENABLED=0", "EXPOSE " + strconv.Itoa(defaults.Port), "ENV PORT=" + strconv.Itoa(defaults.Port) + " ", "USER nonroot", "VOLUME [\"/data\"]",
		"DATA_DIR=/data", "ENTRYPOINT [\"/assignd\"]", "distroless/static",
		"COPY policy.yaml " + fly.Env["POLICY_FILE"], "POLICY_FILE=" + fly.Env["POLICY_FILE"], "/out/assignd policy check -strict policy.yaml",
		"ARG VERSION", `-ldflags="` + dockerLdflags + `"`, "/out/assignd version"} {
		if !bytes.Contains(df, []byte(want)) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dockerLdflags is the Dockerfile's -ldflags, VERSION being its build
// argument (git describe): TestDeploymentFilesAgreeWithConfig checks the Dockerfile has it.
const dockerLdflags = `-s -w -X main.revision=${VERSION}`

// testBuildVersion is what the test builds pass as VERSION.
const testBuildVersion = "v0.0.0-test-build"

// staticBuild builds assignd the way the Dockerfile does.
func staticBuild(t *testing.T, out string) {
	t.Helper()
	ldflags := strings.ReplaceAll(dockerLdflags, "${VERSION}", testBuildVersion)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags="+ldflags, "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("static build: %v\n%s", err, b)
	}
}

// TestShutdownStagesShareOneStart: every stage's deadline is an offset from
// the same start, so a slow stage cannot push the ones after it past
// drainBudget, and the last one ends at drainBudget.
func TestShutdownStagesShareOneStart(t *testing.T) {
	t.Parallel()
	var c shutdownClock
	start := c.begin()
	time.Sleep(20 * time.Millisecond) // a stage that took its time
	for _, end := range []time.Duration{httpDrainEnd, queueDrainEnd, logFlushEnd, tracingFlushEnd} {
		ctx, cancel := c.until(end)
		dl, _ := ctx.Deadline()
		cancel()
		if !dl.Equal(start.Add(end)) {
			t.Errorf("stage ending at %s: deadline %s after the start, want %s", end, dl.Sub(start), end)
		}
	}
	if c.begin() != start {
		t.Error("the start moved")
	}
}

// TestDockerfileGateRefusesPlaceholders runs the Dockerfile's policy gate,
// as written there, on the example policy: its placeholder SIDs would ship
// in the image unless the gate fails on warnings, not only on errors.
func TestDockerfileGateRefusesPlaceholders(t *testing.T) {
	df := string(mustRead(t, "../../Dockerfile"))
	const bin = "/out/assignd "
	i := strings.Index(df, bin+"policy check")
	if i < 0 {
		t.Fatal("the Dockerfile does not gate on `assignd policy check`")
	}
	line, _, _ := strings.Cut(df[i+len(bin):], "\n")
	args := strings.Fields(strings.TrimSuffix(strings.TrimSpace(line), "\\"))
	if args[len(args)-1] != "policy.yaml" {
		t.Fatalf("Dockerfile gate %q: want the image's policy.yaml last", line)
	}
	args[len(args)-1] = examplePolicyFile
	var out bytes.Buffer
	err := run(t.Context(), args, nil, nil, &out, &out)
	if err == nil || !strings.Contains(out.String(), "placeholder SID") {
		t.Fatalf("Dockerfile gate %q on a policy with placeholder SIDs: %v, want refused\n%s", line, err, out.String())
	}
}
