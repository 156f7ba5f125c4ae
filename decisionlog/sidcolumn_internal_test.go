package decisionlog

import (
	"testing"

	"github.com/assignd/assignd/taskrouter"
)

// Every SID parameter of taskrouter's table has its own column, so a
// refused callback's claimed SIDs are all kept.
func TestEverySidParamHasAColumn(t *testing.T) {
	t.Parallel()
	var e Entry
	seen := map[*string]string{}
	for _, p := range taskrouter.CallbackParams() {
		col := e.sidColumn(p.Name)
		if (col != nil) != (p.Type == taskrouter.TypeSid) {
			t.Errorf("%s (%s): column %v", p.Name, p.Type, col)
		}
		if col != nil && seen[col] != "" {
			t.Errorf("%s and %s share a column", seen[col], p.Name)
		}
		if col != nil {
			seen[col] = p.Name
		}
	}
}
