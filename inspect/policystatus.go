package inspect

import (
	"sync"
	"time"

	"github.com/assignd/assignd/policy"
)

// PolicyStatus is the PolicySource the service uses: the policy in force is
// whatever current holds, and the reloader reports each reload to it.
type PolicyStatus struct {
	current *policy.Current
	now     func() time.Time

	mu   sync.Mutex
	last Reload
}

// NewPolicyStatus reports on current.
func NewPolicyStatus(current *policy.Current) *PolicyStatus {
	return &PolicyStatus{current: current, now: time.Now}
}

// Policy returns the policy in force.
func (s *PolicyStatus) Policy() policy.Policy { return s.current.Load() }

// Reloaded records a reload attempt: err nil means the new policy is in
// force, otherwise it was rejected and the previous one stayed.
func (s *PolicyStatus) Reloaded(trigger string, err error) {
	r := Reload{At: s.now().UTC(), Trigger: trigger, OK: err == nil}
	if err != nil {
		r.Error = err.Error()
	}
	s.mu.Lock()
	s.last = r
	s.mu.Unlock()
}

// LastReload returns the last reload attempt, zero if none.
func (s *PolicyStatus) LastReload() Reload {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}
