package inspect

import "net/http"

// NewWithRenderSlots is New and the inspector's render slots, so a test
// can take them as running renders would (a render holds its slot for
// milliseconds, too briefly to catch from outside) and see the next
// upload refused.
func NewWithRenderSlots(o Options) (http.Handler, chan struct{}, error) {
	h, renders, _, err := NewWithSlots(o)
	return h, renders, err
}

// NewWithSlots is New and the inspector's render and upload slots: a test
// sees when uploads it keeps open hold their slots.
func NewWithSlots(o Options) (h http.Handler, renders, uploads chan struct{}, err error) {
	in, h, err := newInspector(o)
	if err != nil {
		return nil, nil, nil, err
	}
	return h, in.renders, in.uploads, nil
}
