package coord

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Registration is an app's explicit claim to the foreground, as GameMode's
// register call or `gamesa run` makes it.
type Registration struct {
	PID int32
	// Class is what the app is; ClassGame for `gamesa run` unless told.
	Class Class
	// Priority orders registrations: the highest present one is the
	// foreground. Ties go to the most recent.
	Priority int32
	// At is when the app registered, from the caller's clock.
	At time.Time
	// Start is the process's start time (field 22 of /proc/<pid>/stat),
	// when the caller knows it: Prune uses it to tell a reused pid from
	// the registered process. Zero means unknown.
	Start uint64
}

// Registry holds the registrations. It is safe for concurrent use: the
// gRPC handlers register while the node's loop reads and prunes. It
// starts no goroutines and reads no clock.
//
// Entries expire when their process is gone: the caller calls Prune each
// tick with a liveness check (a stat of /proc/<pid>, with the start time
// compared), not with the sample's process list, which holds only the
// busiest processes and so may lack an idle registered game.
type Registry struct {
	mu      sync.Mutex
	entries map[int32]Registration
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{entries: make(map[int32]Registration)}
}

// Register adds reg or replaces the registration of the same pid.
func (r *Registry) Register(reg Registration) error {
	if reg.PID <= 0 {
		return fmt.Errorf("%w: pid %d", ErrRegistration, reg.PID)
	}
	if !reg.Class.Valid() || reg.Class == ClassUnknown {
		return fmt.Errorf("%w: pid %d: class %q is not one of %v", ErrRegistration, reg.PID, reg.Class, Classes())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries[reg.PID] = reg
	return nil
}

// Unregister removes pid's registration and reports whether there was
// one.
func (r *Registry) Unregister(pid int32) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.entries[pid]
	delete(r.entries, pid)
	return ok
}

// Prune removes every registration whose process alive says is gone, and
// returns them sorted by pid. alive is called with the lock held: it must
// not call back into the registry.
func (r *Registry) Prune(alive func(pid int32, start uint64) bool) []Registration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var gone []Registration
	for pid, e := range r.entries {
		if !alive(pid, e.Start) {
			gone = append(gone, e)
			delete(r.entries, pid)
		}
	}
	slices.SortFunc(gone, func(a, b Registration) int { return cmp.Compare(a.PID, b.PID) })
	return gone
}

// Snapshot returns the registrations, foremost first: highest priority,
// then most recent, then lowest pid.
func (r *Registry) Snapshot() []Registration {
	r.mu.Lock()
	out := make([]Registration, 0, len(r.entries))
	for _, e := range r.entries {
		out = append(out, e)
	}
	r.mu.Unlock()
	sortRegistrations(out)
	return out
}

// Len returns the number of registrations.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.entries)
}

func sortRegistrations(regs []Registration) {
	slices.SortFunc(regs, func(a, b Registration) int {
		if c := cmp.Compare(b.Priority, a.Priority); c != 0 {
			return c
		}
		if c := b.At.Compare(a.At); c != 0 {
			return c
		}
		return cmp.Compare(a.PID, b.PID)
	})
}
