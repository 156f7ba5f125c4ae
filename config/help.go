package config

import (
	"fmt"
	"io"
	"reflect"
	"strings"
	"text/tabwriter"
)

// Variable describes one environment variable, read from Config's tags.
type Variable struct {
	Name            string
	Default         string // "" when there is none
	Help            string
	MarksProduction bool
}

// Variables lists every environment variable Config reads, in field order.
func Variables() []Variable {
	t := reflect.TypeFor[Config]()
	var out []Variable
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("env")
		if name == "" || name == "-" {
			continue
		}
		out = append(out, Variable{
			Name:            name,
			Default:         f.Tag.Get("envDefault"),
			Help:            f.Tag.Get("help"),
			MarksProduction: f.Tag.Get("marks") == "production",
		})
	}
	return out
}

func (v Variable) meaning() string {
	if v.MarksProduction {
		return v.Help + " (sets production)"
	}
	return v.Help
}

// WriteHelp prints every variable with its default and meaning, for
// `assignd help env`.
func WriteHelp(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tDEFAULT\tMEANING")
	for _, v := range Variables() {
		def := v.Default
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", v.Name, def, v.meaning())
	}
	return tw.Flush()
}

// MarkdownTable is the README's configuration table; a test keeps the README
// equal to it.
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| variable | default | meaning |\n|---|---|---|\n")
	for _, v := range Variables() {
		def := "—"
		if v.Default != "" {
			def = "`" + v.Default + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", v.Name, def, strings.ReplaceAll(v.meaning(), "|", `\|`))
	}
	return b.String()
}

// Default is the default value of the variable name ("" if it has none), so
// code comparing with a default reads it from the one place it is defined.
func Default(name string) string {
	for _, v := range Variables() {
		if v.Name == name {
			return v.Default
		}
	}
	return ""
}
