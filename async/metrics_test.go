package async_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assignd/assignd/async"
)

// describedNames is a Registerer that keeps the names of the metrics
// registered with it: Gather would leave out the vectors nothing has
// observed yet, and the README must list those too.
type describedNames []string

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (n *describedNames) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			*n = append(*n, m[1])
		}
	}
	return nil
}

func (n *describedNames) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = n.Register(c)
	}
}

func (n *describedNames) Unregister(prometheus.Collector) bool { return true }

// The README's metrics list names every metric the queue exports
// (assignd_async_apply_seconds was once missing).
func TestREADMEListsAsyncMetrics(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var names describedNames
	async.NewMetrics(&names)
	if len(names) < 3 {
		t.Fatalf("found only %v: the descriptor format changed?", names)
	}
	for _, name := range names {
		if !strings.Contains(string(readme), "`"+name) {
			t.Errorf("README.md's metrics list lacks %s", name)
		}
	}
}
