package emulator

import (
	"net/http"
	"slices"
)

// resource is what the REST operations of one kind of TaskRouter resource
// share: the key of its list page, the table its rows live in, and how one
// row is rendered. List, fetch and the 404 for an unknown {Sid} derive from
// it, so every resource answers them alike; what differs (filters,
// validation, side effects) stays in the resource's own handlers.
type resource[T any] struct {
	key    string                             // the list's resource key, also meta.key
	rows   func(c *call) *table[T]            // where the rows live for this call
	render func(c *call, v *T) map[string]any // the JSON of one row
}

// bySid is the row the path's {Sid} names, or Twilio's 404 for the path.
func (rs resource[T]) bySid(c *call) (*T, *apiError) {
	v := rs.rows(c).get(c.path("Sid"))
	if v == nil {
		return nil, errNotFound(c.r.URL.Path)
	}
	return v, nil
}

// forUpdate is the row {Sid} names and the form to update it with, in the
// order Twilio checks them: an unknown row is a 404 whatever the body.
func (rs resource[T]) forUpdate(c *call) (*T, *params, *apiError) {
	v, err := rs.bySid(c)
	if err != nil {
		return nil, nil, err
	}
	p, err := formParams(c.r)
	if err != nil {
		return nil, nil, err
	}
	return v, p, nil
}

// fetch is the GET of one row by {Sid}.
func (rs resource[T]) fetch(c *call) (int, any, *apiError) {
	v, err := rs.bySid(c)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, rs.render(c, v), nil
}

// list is the GET of the rows keep accepts, in table order, as one page.
func (rs resource[T]) list(c *call, keep func(*T) bool) (int, any, *apiError) {
	return rs.listSorted(c, keep, nil)
}

// listSorted is list with the rows in cmp's order (stable, so rows cmp
// ties stay in table order); nil cmp keeps table order.
func (rs resource[T]) listSorted(c *call, keep func(*T) bool, cmp func(a, b *T) int) (int, any, *apiError) {
	var out []*T
	for _, v := range rs.rows(c).all() {
		if keep(v) {
			out = append(out, v)
		}
	}
	if cmp != nil {
		slices.SortStableFunc(out, cmp)
	}
	body, err := page(c.r, c.base, rs.key, out, func(v *T) map[string]any { return rs.render(c, v) })
	return http.StatusOK, body, err
}
