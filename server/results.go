package server

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// results keeps encoded pictures for a short time, for answers that give
// pictures by URL. Entries expire after ttl; when the bytes held exceed
// limit the oldest entries go first.
type results struct {
	mu    sync.Mutex
	ttl   time.Duration
	limit int64
	size  int64
	m     map[string]*result
	order []string // insertion order, oldest first
	now   func() time.Time
}

type result struct {
	data    []byte
	ctype   string
	expires time.Time
}

func newResults(ttl time.Duration, limit int64) *results {
	return &results{ttl: ttl, limit: limit, m: make(map[string]*result), now: time.Now}
}

// put stores data and returns its id.
func (r *results) put(data []byte, ctype string) string {
	var b [16]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	r.mu.Lock()
	defer r.mu.Unlock()
	r.prune()
	r.m[id] = &result{data: data, ctype: ctype, expires: r.now().Add(r.ttl)}
	r.order = append(r.order, id)
	r.size += int64(len(data))
	for r.size > r.limit && len(r.order) > 1 {
		r.drop()
	}
	return id
}

// get returns the data stored under id, if it has not expired.
func (r *results) get(id string) (*result, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.prune()
	e, ok := r.m[id]
	return e, ok
}

// prune drops the expired entries (the oldest are first in order).
func (r *results) prune() {
	now := r.now()
	for len(r.order) > 0 {
		e, ok := r.m[r.order[0]]
		if ok && now.Before(e.expires) {
			return
		}
		r.drop()
	}
}

func (r *results) drop() {
	id := r.order[0]
	r.order = r.order[1:]
	if e, ok := r.m[id]; ok {
		r.size -= int64(len(e.data))
		delete(r.m, id)
	}
}

// count returns the number of entries held.
func (r *results) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}
