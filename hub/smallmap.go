package hub

// smallMap is a map that is a short list while it is small. Most presence
// channels have one or a few members and most users one or a few sockets,
// where a Go map costs ~250 bytes even for one entry and a list costs the
// entries alone. Past smallMapMax entries the positions are indexed by key,
// so lookups stay O(1) for channels with thousands of members; the index
// goes again when the list shrinks back. Removal moves the last entry into
// the gap, so the order of entries is the order of adds only until the
// first removal.
type smallMap[K comparable, V any] struct {
	entries []smallEntry[K, V]
	index   map[K]int32 // nil while len(entries) <= smallMapMax
}

type smallEntry[K comparable, V any] struct {
	key K
	val V
}

const smallMapMax = 8

func (m *smallMap[K, V]) len() int { return len(m.entries) }

// find returns the position of k, or -1.
func (m *smallMap[K, V]) find(k K) int {
	if m.index != nil {
		if i, ok := m.index[k]; ok {
			return int(i)
		}
		return -1
	}
	for i := range m.entries {
		if m.entries[i].key == k {
			return i
		}
	}
	return -1
}

func (m *smallMap[K, V]) get(k K) (V, bool) {
	if i := m.find(k); i >= 0 {
		return m.entries[i].val, true
	}
	var zero V
	return zero, false
}

func (m *smallMap[K, V]) has(k K) bool { return m.find(k) >= 0 }

// ptr returns the value of k in place, or nil. It stays valid until the
// next put or remove.
func (m *smallMap[K, V]) ptr(k K) *V {
	if i := m.find(k); i >= 0 {
		return &m.entries[i].val
	}
	return nil
}

// put sets the value of k.
func (m *smallMap[K, V]) put(k K, v V) {
	if i := m.find(k); i >= 0 {
		m.entries[i].val = v
		return
	}
	m.entries = append(m.entries, smallEntry[K, V]{k, v})
	switch n := len(m.entries); {
	case m.index != nil:
		m.index[k] = int32(n - 1)
	case n > smallMapMax:
		m.index = make(map[K]int32, 2*n)
		for i := range m.entries {
			m.index[m.entries[i].key] = int32(i)
		}
	}
}

// remove deletes k and returns its value.
func (m *smallMap[K, V]) remove(k K) (V, bool) {
	i := m.find(k)
	if i < 0 {
		var zero V
		return zero, false
	}
	v := m.entries[i].val
	last := len(m.entries) - 1
	if m.index != nil {
		delete(m.index, k)
		if i != last {
			m.index[m.entries[last].key] = int32(i)
		}
	}
	m.entries[i] = m.entries[last]
	m.entries[last] = smallEntry[K, V]{}
	m.entries = m.entries[:last]
	if m.index != nil && last <= smallMapMax/2 {
		m.index = nil
	}
	// A channel that once had many members gives the memory back.
	if c := cap(m.entries); c > 4*smallMapMax && last < c/4 {
		m.entries = append(make([]smallEntry[K, V], 0, 2*last), m.entries...)
	}
	if last == 0 {
		m.entries = nil
	}
	return v, true
}

// clear empties the map and lets go of its memory.
func (m *smallMap[K, V]) clear() {
	m.entries, m.index = nil, nil
}
