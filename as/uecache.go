package as

import (
	"context"
	"errors"
	"sync"

	"github.com/prosesec/prosesec/store"
)

// maxCachedUEs bounds the UE cache (a few hundred bytes per entry).
const maxCachedUEs = 1 << 16

// ueCache holds registrations read from the store for the token endpoint,
// so that a token request does not read its client's row. It is safe only
// together with store.GuardedTokenRecorder: Token records a token only if
// the registration it authenticated the client with is still the current
// one (same UpdatedAt, checked in the insert's transaction), so a stale
// entry — changed or removed by this instance, another instance or an
// admin command — costs a retry with a fresh read, never a token. A
// failure against a cached entry is checked against a fresh read before it
// is reported (refresh), so that a client whose secret, key or grants just
// changed is not refused on old data either. The entries are shared and
// must not be modified.
type ueCache struct {
	mu sync.RWMutex
	m  map[string]*store.UE
}

func (c *ueCache) get(id string) *store.UE {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[id]
}

func (c *ueCache) put(ue *store.UE) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]*store.UE)
	}
	if _, ok := c.m[ue.ID]; !ok && len(c.m) >= maxCachedUEs {
		for k := range c.m { // evict an arbitrary entry
			delete(c.m, k)
			break
		}
	}
	c.m[ue.ID] = ue
}

func (c *ueCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}

// refreshUE re-reads the registration behind a cached entry that a request
// failed against and reports whether it changed (updated or removed); the
// cache then holds the fresh registration (or none). A store error keeps
// the entry and reports no change: the original failure stands.
func (s *Server) refreshUE(ctx context.Context, cached *store.UE) bool {
	fresh, err := s.st.GetUE(ctx, cached.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.ues.drop(cached.ID)
		return true
	case err != nil:
		return false
	case fresh.UpdatedAt.Equal(cached.UpdatedAt):
		return false
	}
	s.ues.put(fresh)
	return true
}
