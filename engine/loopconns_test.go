package engine

import "testing"

func TestLoopConnsVisitsEachOnceWhileClosing(t *testing.T) {
	l := &loop{}
	var all []*conn
	for range 100 {
		cn := &conn{}
		l.addConn(cn)
		all = append(all, cn)
	}
	// Closing the visited connection, and sometimes another one too, as a
	// close cascading to a relay would.
	visited := map[*conn]int{}
	l.eachConn(func(cn *conn) {
		visited[cn]++
		l.removeConn(cn)
		if cn == all[50] {
			l.removeConn(all[10])
		}
	})
	for i, cn := range all {
		if i == 10 {
			continue // removed before its turn
		}
		if visited[cn] != 1 {
			t.Fatalf("connection %d visited %d times", i, visited[cn])
		}
	}
	if len(l.conns) != 0 {
		t.Fatalf("%d connections left", len(l.conns))
	}
}

func TestLoopConnsRemoveKeepsPlacesRight(t *testing.T) {
	l := &loop{}
	var all []*conn
	for range 300 {
		cn := &conn{}
		l.addConn(cn)
		all = append(all, cn)
	}
	for i := 0; i < 290; i += 1 {
		l.removeConn(all[i])
		l.removeConn(all[i]) // twice is harmless
	}
	if len(l.conns) != 10 {
		t.Fatalf("%d connections, want 10", len(l.conns))
	}
	if cap(l.conns) > 64 {
		t.Fatalf("capacity %d kept after most connections closed", cap(l.conns))
	}
	for i, cn := range l.conns {
		if int(cn.slot) != i {
			t.Fatalf("connection at %d thinks it is at %d", i, cn.slot)
		}
	}
	seen := map[*conn]bool{}
	for _, cn := range l.conns {
		seen[cn] = true
	}
	for _, cn := range all[290:] {
		if !seen[cn] {
			t.Fatal("an open connection was lost")
		}
	}
}
