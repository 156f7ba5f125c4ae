package main

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"go.yaml.in/yaml/v3"

	"github.com/assignd/assignd/config"
)

// The deployment files must agree with the service's own defaults: the port
// it listens on, the health path it serves, and a warm instance.
func TestDeploymentFilesAgreeWithConfig(t *testing.T) {
	defaults, err := config.Load(nil)
	if err != nil {
		t.Fatal(err)
	}

	var fly struct {
		Env         map[string]string `toml:"env"`
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
	if len(hs.Checks) == 0 || hs.Checks[0].Path != "/healthz" {
		t.Errorf("fly.toml health check: %+v", hs.Checks)
	}
	if fly.Mounts.Destination != fly.Env["DATA_DIR"] || fly.Env["DATA_DIR"] != "/data" {
		t.Errorf("fly.toml mounts %q, DATA_DIR %q", fly.Mounts.Destination, fly.Env["DATA_DIR"])
	}
	if _, err := config.Load([]string{"PUBLIC_URL=" + fly.Env["PUBLIC_URL"]}); err != nil || !strings.HasPrefix(fly.Env["PUBLIC_URL"], "https://") {
		t.Errorf("fly.toml PUBLIC_URL %q: %v", fly.Env["PUBLIC_URL"], err)
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
							Name  string `yaml:"name"`
							Value string `yaml:"value"`
						} `yaml:"env"`
						StartupProbe struct {
							HTTPGet struct{ Path string } `yaml:"httpGet"`
						} `yaml:"startupProbe"`
						LivenessProbe struct {
							HTTPGet struct{ Path string } `yaml:"httpGet"`
						} `yaml:"livenessProbe"`
					} `yaml:"containers"`
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
	if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.StartupProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("service.yaml probes: %+v %+v", c.LivenessProbe, c.StartupProbe)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if _, ok := env["DATABASE_URL"]; !ok || env["TRUST_PROXY"] != "true" {
		t.Errorf("service.yaml env: %v (want DATABASE_URL and TRUST_PROXY=true)", env)
	}
	if _, err := config.Load([]string{"TRUST_PROXY=" + env["TRUST_PROXY"]}); err != nil {
		t.Errorf("service.yaml TRUST_PROXY: %v", err)
	}

	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CGO_ENABLED=0", "EXPOSE " + strconv.Itoa(defaults.Port), "USER nonroot", "VOLUME [\"/data\"]",
		"DATA_DIR=/data", "ENTRYPOINT [\"/assignd\"]", "distroless/static"} {
		if !bytes.Contains(df, []byte(want)) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}

// staticBuild builds assignd the way the Dockerfile does.
func staticBuild(t *testing.T, out string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("static build: %v\n%s", err, b)
	}
}
