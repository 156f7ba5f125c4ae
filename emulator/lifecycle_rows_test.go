package emulator

import (
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/assignd/assignd/taskrouter"
)

// The table itself: one row at most for any status and trigger (so lookup
// is unambiguous), only real statuses, only TaskRouter's event names.
func TestLifecycleRowsWellFormed(t *testing.T) {
	statuses := map[string][]string{
		"task":        {"", taskPending, taskReserved, taskAssigned, taskWrapping, taskCompleted, taskCanceled},
		"reservation": append([]string{""}, reservationStatuses()...),
	}
	seen := map[string]string{}
	for _, rw := range lifecycleRows() {
		valid, ok := statuses[rw.machine]
		if !ok {
			t.Errorf("%s: unknown machine", &rw)
			continue
		}
		for _, s := range append(slices.Clone(rw.from), rw.to) {
			if !slices.Contains(valid, s) {
				t.Errorf("%s: %q is not a %s status", &rw, s, rw.machine)
			}
		}
		for _, from := range rw.from {
			k := rw.machine + " " + from + " " + string(rw.on)
			if prev, dup := seen[k]; dup {
				t.Errorf("%s overlaps %s", &rw, prev)
			}
			seen[k] = rw.String()
		}
		prefix := rw.machine + "."
		if rw.event != "" && (!strings.HasPrefix(rw.event, prefix) || rw.machine == "reservation" && !taskrouter.IsReservationEvent(rw.event)) {
			t.Errorf("%s: event %q is not a %s event", &rw, rw.event, rw.machine)
		}
		if (rw.event == "") != (rw.desc == "") {
			t.Errorf("%s: an event goes with its description", &rw)
		}
	}
}

// A transition with no row is a bug in the emulator: it panics rather than
// leave a task or reservation in a state the table does not know.
func TestTransitionWithoutRowPanics(t *testing.T) {
	e, err := New(Options{AccountSid: "AC0123456789abcdef0123456789abcdef", AuthToken: "x", Clock: NewManualClock(time.Unix(0, 0))})
	if err != nil {
		t.Fatal(err)
	}
	ws := newWorkspace("WS0123456789abcdef0123456789abcdef", "w", time.Unix(0, 0))
	tk := &task{sid: "WT0123456789abcdef0123456789abcdef", status: taskCompleted}
	ws.tasks.put(tk.sid, tk)
	defer func() {
		msg, _ := recover().(string)
		if !strings.Contains(msg, `no lifecycle row moves a task from "completed" on accept`) {
			t.Fatalf("recovered %q, want the missing row named", msg)
		}
		if tk.status != taskCompleted {
			t.Fatalf("status %s after the refused transition, want completed", tk.status)
		}
	}()
	e.taskTo(ws, tk, onAccept, "")
}

// The table is the only way a status changes: no code outside transition
// calls the status setters, and none outside them assigns a task's or a
// reservation's status. A shortcut past the table fails here, not in
// production.
func TestStatusChangesOnlyThroughTransition(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi fs.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, f := range pkgs["emulator"].Files {
		files = append(files, f)
	}
	// Only this package's own types matter: imports are left empty and the
	// errors they cause ignored.
	info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}}
	conf := types.Config{Importer: emptyImporter{}, Error: func(error) {}}
	_, _ = conf.Check("github.com/assignd/assignd/emulator", fset, files, info)
	setters := map[string]bool{"setTaskStatus": true, "setResStatus": true}
	for _, f := range files {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CallExpr:
					if sel, ok := n.Fun.(*ast.SelectorExpr); ok && setters[sel.Sel.Name] && fn.Name.Name != "transition" {
						t.Errorf("%s: %s calls %s: status changes go through transition", fset.Position(n.Pos()), fn.Name.Name, sel.Sel.Name)
					}
				case *ast.AssignStmt:
					for _, lhs := range n.Lhs {
						sel, ok := lhs.(*ast.SelectorExpr)
						if !ok || sel.Sel.Name != "status" || setters[fn.Name.Name] {
							continue
						}
						if typ := types.TypeString(info.TypeOf(sel.X), nil); strings.HasSuffix(typ, ".task") || strings.HasSuffix(typ, ".reservation") {
							t.Errorf("%s: %s sets a %s's status: status changes go through transition", fset.Position(n.Pos()), fn.Name.Name, typ)
						}
					}
				}
				return true
			})
		}
	}
}

type emptyImporter struct{}

func (emptyImporter) Import(path string) (*types.Package, error) {
	p := types.NewPackage(path, path[strings.LastIndex(path, "/")+1:])
	p.MarkComplete()
	return p, nil
}
