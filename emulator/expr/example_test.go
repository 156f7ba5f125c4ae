package expr_test

import (
	"encoding/json"
	"fmt"

	"github.com/assignd/assignd/emulator/expr"
)

// The tutorial's Spanish queue, and a workflow target that also reads the
// task: the worker's attributes are bare, the task's are under task.
func Example() {
	queue, err := expr.Parse(`languages HAS "es"`)
	if err != nil {
		panic(err)
	}
	target, err := expr.Parse(`languages HAS task.selected_language`)
	if err != nil {
		panic(err)
	}
	var alice, bob, task map[string]any
	_ = json.Unmarshal([]byte(`{"languages":["en","es"]}`), &alice)
	_ = json.Unmarshal([]byte(`{"languages":["en"]}`), &bob)
	_ = json.Unmarshal([]byte(`{"selected_language":"es"}`), &task)
	roots := map[string]map[string]any{"task": task}
	fmt.Println(queue.Eval(expr.Vars{Bare: alice}), queue.Eval(expr.Vars{Bare: bob}))
	fmt.Println(target.Eval(expr.Vars{Bare: alice, Roots: roots}), target.Eval(expr.Vars{Bare: bob, Roots: roots}))

	_, err = expr.Parse(`languages HAS "es" AND`)
	fmt.Println(err)
	// Output:
	// true false
	// true false
	// expected a value, found end of expression at position 22
}
