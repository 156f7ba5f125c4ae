package inspect

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/assignd/assignd/whatif/report"
)

// MaxRenders is how many uploaded simulation reports are decoded and drawn
// at once: each may be report.MaxBytes of JSON and up to
// report.MaxReports × 7 × report.MaxPoints values. The rest are refused
// (429, Retry-After), not queued. A slot is taken only once the upload has
// been read, so a slow upload holds none (the admin listener's read
// timeout ends it).
const MaxRenders = 2

// MaxUploads is how many uploads are read at once, each into up to
// report.MaxBytes (more while it grows): the admin listener bounds no
// connections, so without it N slow uploads would hold N times that. The
// rest are refused (429, Retry-After) before their body is read. A slot is
// held until the answer is written, so the memory held for uploads is at
// most MaxUploads of them, however they are sent. It is above MaxRenders,
// so that uploads still arriving leave room for whole ones to be drawn.
const MaxUploads = 4

// maxUploadForm bounds a multipart upload: the report and room for the
// form's other parts around it.
const maxUploadForm = report.MaxBytes + 64<<10

// errFormBody is a URL-encoded form, which cannot carry a file: 415.
var errFormBody = errors.New("a URL-encoded form cannot carry the report: send the JSON itself as the body, or a multipart/form-data upload with the file in the field \"report\"")

// drawError is a report that decoded but could not be drawn: the
// renderer's failure, not the upload's.
type drawError struct{ err error }

func (e *drawError) Error() string { return "draw: " + e.err.Error() }
func (e *drawError) Unwrap() error { return e.err }

// uploadStatus is the status of an upload that failed with err.
func uploadStatus(err error) int {
	if _, ok := errors.AsType[*drawError](err); ok {
		return http.StatusInternalServerError
	}
	switch {
	case errors.Is(err, report.ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errFormBody):
		return http.StatusUnsupportedMediaType
	}
	return http.StatusBadRequest
}

// readUpload reads the report a request carries: the file in the
// multipart field "report" (the page's form), or else the body itself
// (the API: `curl --data-binary @day.json`). It reads at most
// report.MaxBytes of it and refuses more with report.ErrTooLarge.
func readUpload(w http.ResponseWriter, r *http.Request) (data []byte, name string, err error) {
	if r.ContentLength > maxUploadForm {
		return nil, "", report.ErrTooLarge
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/x-www-form-urlencoded":
		return nil, "", errFormBody
	case "multipart/form-data":
		r.Body = http.MaxBytesReader(w, r.Body, maxUploadForm)
		mr, err := r.MultipartReader()
		if err != nil {
			return nil, "", fmt.Errorf("read the form: %w", err)
		}
		for {
			part, err := mr.NextPart()
			if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
				return nil, "", report.ErrTooLarge
			}
			if err == io.EOF {
				return nil, "", errors.New(`the form has no file in the field "report"`)
			}
			if err != nil {
				return nil, "", fmt.Errorf("read the form: %w", err)
			}
			if part.FormName() != "report" {
				continue // NextPart skips what is left of it
			}
			data, err := readBounded(part)
			if err != nil {
				return nil, "", err
			}
			if len(bytes.TrimSpace(data)) == 0 {
				return nil, "", errors.New("no file chosen, or the file is empty")
			}
			return data, part.FileName(), nil
		}
	default:
		data, err := readBounded(r.Body)
		return data, "", err
	}
}

// readBounded reads at most report.MaxBytes and refuses more.
func readBounded(rd io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(rd, report.MaxBytes+1))
	if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge || len(data) > report.MaxBytes {
		return nil, report.ErrTooLarge
	}
	if err != nil {
		return nil, fmt.Errorf("read the report: %w", err)
	}
	return data, nil
}

// decodeAndDraw decodes data and draws it with write, in a render slot.
// It answers false when it refused the request for want of a slot.
func (in *inspector) decodeAndDraw(w http.ResponseWriter, data []byte, write func(io.Writer, []report.Report) error) (out []byte, ok bool, err error) {
	if !in.renders.take(w, nil) {
		return nil, false, nil
	}
	defer in.renders.release()
	reports, err := report.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, true, err
	}
	var buf bytes.Buffer
	if err := write(&buf, reports); err != nil {
		return nil, true, &drawError{err}
	}
	return buf.Bytes(), true, nil
}

// simulationsPage is the Simulations page: the upload form and, after an
// upload, the report drawn (or why it was not).
type simulationsPage struct {
	Limits string
	File   string
	Error  string
	Report template.HTML // report.WriteBody's output
}

// uploadLimits says the bounds on the page, from the constants.
func uploadLimits() string {
	return fmt.Sprintf("at most %d MiB, %d policies, %d streams, queues, groups, rules or instructions each, %d points per series",
		report.MaxBytes>>20, report.MaxReports, report.MaxKeys, report.MaxPoints)
}

func (in *inspector) simulations(w http.ResponseWriter, r *http.Request) {
	in.render(w, http.StatusOK, "simulations.html", simulationsPage{Limits: uploadLimits()})
}

// simulationsUpload draws the uploaded report in the page.
func (in *inspector) simulationsUpload(w http.ResponseWriter, r *http.Request) {
	if !in.uploads.take(w, nil) {
		return
	}
	defer in.uploads.release()
	page := simulationsPage{Limits: uploadLimits()}
	data, name, err := readUpload(w, r)
	page.File = name
	if err != nil {
		page.Error = err.Error()
		in.render(w, uploadStatus(err), "simulations.html", page)
		return
	}
	body, ok, err := in.decodeAndDraw(w, data, report.WriteBody)
	if !ok {
		return
	}
	if err != nil {
		page.Error = err.Error()
		in.render(w, uploadStatus(err), "simulations.html", page)
		return
	}
	page.Report = template.HTML(body) // report.WriteBody escaped what it drew
	in.render(w, http.StatusOK, "simulations.html", page)
}

// apiSimulations answers the uploaded report as the page `assignd
// simulate -html` writes (self-contained, to save), or a JSON error.
func (in *inspector) apiSimulations(w http.ResponseWriter, r *http.Request) {
	if !in.uploads.take(w, nil) {
		return
	}
	defer in.uploads.release()
	data, _, err := readUpload(w, r)
	if err != nil {
		writeJSON(w, uploadStatus(err), map[string]string{"error": err.Error()})
		return
	}
	page, ok, err := in.decodeAndDraw(w, data, report.WriteHTML)
	if !ok {
		return
	}
	if err != nil {
		writeJSON(w, uploadStatus(err), map[string]string{"error": err.Error()})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(page)
}

// reportStylesheet serves report.Stylesheet, which the Simulations page
// links: the admin listener's Content-Security-Policy forbids the inline
// copy the standalone page carries.
func (in *inspector) reportStylesheet(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	_, _ = io.Copy(w, strings.NewReader(report.Stylesheet()))
}
