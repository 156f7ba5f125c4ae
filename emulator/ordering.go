package emulator

import (
	"cmp"
	"strings"
	"time"
)

// This file is the Ordering query parameter of list endpoints: comma-
// separated Attribute:Order pairs, Order asc or desc, applied in turn
// (Twilio's OpenAPI describes it so for GET /Tasks).

// listKey compares two rows by one attribute, ascending.
type listKey[T any] func(a, b *T) int

// byTime and byInt are listKeys over one field of a row.
func byTime[T any](f func(*T) time.Time) listKey[T] {
	return func(a, b *T) int { return f(a).Compare(f(b)) }
}

func byInt[T any](f func(*T) int) listKey[T] {
	return func(a, b *T) int { return cmp.Compare(f(a), f(b)) }
}

// parseOrdering parses v against the attributes keys knows. It returns
// the comparison (nil for an empty v), the attributes named, and an
// attribute keys does not know (unknown, with a nil comparison) so the
// caller decides between refusing it as invalid and as not carried out. A
// pair not Attribute:asc|desc, or an attribute twice, is invalid.
func parseOrdering[T any](v string, keys map[string]listKey[T]) (order func(a, b *T) int, named map[string]bool, unknown string, err *apiError) {
	if v == "" {
		return nil, nil, "", nil
	}
	var chain []listKey[T]
	named = map[string]bool{}
	for _, pair := range strings.Split(v, ",") {
		attr, order, _ := strings.Cut(strings.TrimSpace(pair), ":")
		if attr == "" || named[attr] || (order != "asc" && order != "desc") {
			return nil, nil, "", errParam("Invalid Ordering %q: must be Attribute:Order pairs, Order asc or desc", v)
		}
		key, ok := keys[attr]
		if !ok {
			return nil, nil, attr, nil
		}
		named[attr] = true
		if order == "desc" {
			key = func(a, b *T) int { return keys[attr](b, a) }
		}
		chain = append(chain, key)
	}
	return func(a, b *T) int {
		for _, k := range chain {
			if n := k(a, b); n != 0 {
				return n
			}
		}
		return 0
	}, named, "", nil
}

// Workers' and task queues' Ordering: Twilio's OpenAPI says only "Sorting
// parameter"; these are the attributes twilio-taskrouter.js's integration
// tests sort by against TaskRouter (Workspace fetchWorkers and
// fetchTaskQueues). Another, which Twilio may take but does not document,
// is refused as not carried out.
func workerOrderKeys() map[string]listKey[worker] {
	return map[string]listKey[worker]{
		"DateStatusChanged": byTime(func(w *worker) time.Time { return w.statusSince }),
	}
}

func queueOrderKeys() map[string]listKey[queue] {
	return map[string]listKey[queue]{
		"DateUpdated": byTime(func(q *queue) time.Time { return q.updated }),
	}
}

// listOrdering parses the Ordering of list endpoint ep against keys; an
// attribute keys does not know is refused as not carried out (or, with
// AllowUnsupported, ignored: table order).
func listOrdering[T any](c *call, ep Endpoint, keys map[string]listKey[T]) (func(a, b *T) int, *apiError) {
	v := c.query("Ordering")
	order, _, unknown, err := parseOrdering(v, keys)
	if err != nil {
		return nil, err
	}
	if unknown != "" {
		return nil, c.unsupported(ep, "Ordering="+v)
	}
	return order, nil
}
