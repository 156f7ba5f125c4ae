package inspect

import "net/http"

// NewWithSlots is New and the inspector's render and upload slots, so a
// test can take them as running renders would (a render holds its slot for
// milliseconds, too briefly to catch from outside) and see when uploads it
// keeps open hold theirs.
func NewWithSlots(o Options) (h http.Handler, renders, uploads chan struct{}, err error) {
	in, h, err := newInspector(o)
	if err != nil {
		return nil, nil, nil, err
	}
	return h, in.renders.slots, in.uploads.slots, nil
}

// NewWithReplaySlots is New and the inspector's replay slots.
func NewWithReplaySlots(o Options) (http.Handler, chan struct{}, error) {
	in, h, err := newInspector(o)
	if err != nil {
		return nil, nil, err
	}
	return h, in.replays.slots, nil
}
