package handlers

import "net/http"

// gate holds the checks every TaskRouter request passes before anything in
// it is trusted or acted on: a bounded body, a TaskRouter form's shape, a
// valid signature. The callback and /events share it.
type gate struct {
	verifier  *Verifier
	bodyLimit int64
	refusals  *refusalLog
}

// read reads a request's body and checks its shape: the checks before the
// signature, which cost one bounded read and one scan of the body.
func (g *gate) read(req *http.Request) ([]byte, refusal, error) {
	body, err := receiveBody(req, g.bodyLimit)
	if err != nil {
		return nil, refusedBody, err
	}
	if err := CheckShape(body); err != nil {
		return nil, refusedShape, err
	}
	return body, notRefused, nil
}

// logRefused writes the sampled line for a request (what: "callback" or
// "event") refused before its signature held; checked is the URL the
// signature was checked against.
func (g *gate) logRefused(what string, r refusal, req *http.Request, err error, checked string) {
	l := g.refusals
	switch r {
	case refusedBody:
		l.Warn().Str("result", ResultBadRequest).Str("path", req.URL.Path).Err(err).Int64("limit", g.bodyLimit).
			Msg(what + " refused: body too large or unreadable")
	case refusedShape:
		l.Warn().Str("result", ResultMalformed).Str("path", req.URL.Path).Str("remote", req.RemoteAddr).Err(err).
			Msg(what + " refused: not a TaskRouter form")
	case refusedSignature:
		hint := g.verifier.Hint(req, err)
		l.Warn().Str("result", ResultBadSignature).Str("path", req.URL.Path).Str("checked_url", checked).Str("remote", req.RemoteAddr).
			Str("hint", hint).Msg(what + " refused: " + err.Error())
	}
}
