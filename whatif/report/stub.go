package report

import (
	"fmt"
	"html"
	"io"
)

// WriteTable is a stand-in until the renderers land: one line per report.
func WriteTable(w io.Writer, reports []Report) error {
	for _, r := range reports {
		if _, err := fmt.Fprintf(w, "%s: offered %.1f answered %.1f abandoned %.1f prob_wait %.3f asa_s %.1f occupancy %.3f\n",
			r.Policy, r.Offered, r.Answered, r.Abandoned, r.ProbWait, r.ASA, r.Occupancy); err != nil {
			return err
		}
	}
	return nil
}

// WriteHTML is a stand-in until the renderers land: the policies' names.
func WriteHTML(w io.Writer, reports []Report) error {
	if _, err := io.WriteString(w, "<html><body>"); err != nil {
		return err
	}
	for _, r := range reports {
		if _, err := fmt.Fprintf(w, "<h2>%s</h2>", html.EscapeString(r.Policy)); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "</body></html>\n")
	return err
}
