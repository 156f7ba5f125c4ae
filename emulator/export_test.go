package emulator

// LifecycleRows returns each row of e's lifecycle table (lifecycle.go),
// written "machine from --trigger--> to", with how often it has run: the
// external tests drive the emulator over HTTP and check every row ran.
func (e *Emulator) LifecycleRows() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]int{}
	for i := range e.rows {
		out[e.rows[i].String()] = e.fired[&e.rows[i]]
	}
	return out
}
