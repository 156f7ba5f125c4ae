package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/assignd/assignd/admin"
	"github.com/assignd/assignd/async"
	"github.com/assignd/assignd/config"
	"github.com/assignd/assignd/decisionlog"
	"github.com/assignd/assignd/handlers"
)

// The README names the routes, defaults and files the code defines: when one of
// them changes, this fails until the README says the new one.
func TestREADMENamesTheRoutesAndDefaults(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	local := "http://127.0.0.1:" + config.Default("PORT")
	for _, want := range []string{
		local + handlers.DefaultCallbackPath, local + handlers.DefaultEventsPath,
		"`" + handlers.HealthPath + "`", "`" + handlers.ReadyPath + "`", "`" + handlers.DefaultEventsPath + "`",
		"`" + admin.PprofPrefix + "`", devAdminAddr + admin.MetricsPath, devAdminAddr + admin.QueuePrefix + "/",
		fmt.Sprintf("body over %d KiB", handlers.DefaultBodyLimit>>10),
		"`DATA_DIR/" + decisionlog.FileName + "`", "`" + async.FileName + "`",
	} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("README.md does not name %s", want)
		}
	}
	if help := config.Variables(); !strings.Contains(variableHelp(help, "ADMIN_ADDR"), devAdminAddr) {
		t.Errorf("ADMIN_ADDR's help does not name the development default %s", devAdminAddr)
	}
}

func variableHelp(vars []config.Variable, name string) string {
	for _, v := range vars {
		if v.Name == name {
			return v.Help
		}
	}
	return ""
}
