package bluenexus

import "sync"

// userCache is a TokenSource's memory of its users, at most max entries.
// When full, adding a user drops an arbitrary other one (Go's map order):
// a dropped user's next call only loads its pair from the store again, so
// a plain bound does the job of an LRU without its bookkeeping on every
// read.
type userCache struct {
	mu    sync.RWMutex
	max   int
	users map[string]*userEntry
}

func newUserCache(max int) *userCache {
	return &userCache{max: max, users: make(map[string]*userEntry)}
}

// getOrAdd returns the user's entry, adding one if there is none.
func (c *userCache) getOrAdd(user string) *userEntry {
	c.mu.RLock()
	e, ok := c.users[user]
	c.mu.RUnlock()
	if ok {
		return e
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.users[user]; ok {
		return e
	}
	e = &userEntry{}
	if len(c.users) >= c.max {
		for u := range c.users {
			delete(c.users, u)
			break
		}
	}
	c.users[user] = e
	return e
}

// remove forgets the user.
func (c *userCache) remove(user string) {
	c.mu.Lock()
	delete(c.users, user)
	c.mu.Unlock()
}
