package handlers

import (
	"io"
	"net/http/httptest"
	"testing"
)

// firstRead records the size of the buffer its first Read is offered.
type firstRead struct{ offered int }

func (r *firstRead) Read(p []byte) (int, error) {
	if r.offered == 0 {
		r.offered = len(p)
	}
	return 0, io.EOF
}

// The buffer for a body is not sized from its Content-Length, which anyone
// can write: a connection announcing the largest body the server reads
// (and sending it slowly, or never) holds a small buffer while it waits.
func TestReadBodyDoesNotTrustContentLength(t *testing.T) {
	t.Parallel()
	src := &firstRead{}
	req := httptest.NewRequest("POST", "/assignment", src)
	req.ContentLength = DefaultBodyLimit
	if _, err := readBody(req, DefaultBodyLimit); err != nil {
		t.Fatal(err)
	}
	if src.offered > 16<<10 {
		t.Fatalf("the first read of a body announced at %d bytes was given a %d-byte buffer", req.ContentLength, src.offered)
	}
}
