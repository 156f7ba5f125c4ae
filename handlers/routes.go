package handlers

// The public listener's routes. config derives the paths CALLBACK_PATH must
// not take from these, and its tests keep the variables' defaults and help
// in step with them.
const (
	DefaultCallbackPath = "/assignment" // CALLBACK_PATH's default
	DefaultEventsPath   = "/events"
	HealthPath          = "/healthz"
	// ReadyPath is served here for platforms' probes and, with details, on
	// the admin listener (admin.ReadyPath, which a test keeps equal).
	ReadyPath = "/readyz"
)
