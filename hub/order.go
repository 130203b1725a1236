package hub

import (
	"strconv"
	"strings"
)

// Order places a cached event in its app's bus order: a Redis stream entry
// id (ms-seq), or the single-node bus's counter (Seq). Every event of one
// publish shares it. The zero Order is "unknown".
type Order struct{ Ms, Seq uint64 }

// After says whether o comes later in bus order than p.
func (o Order) After(p Order) bool {
	return o.Ms > p.Ms || (o.Ms == p.Ms && o.Seq > p.Seq)
}

func (o Order) IsZero() bool { return o == Order{} }

// String is the stream entry id form, ms-seq.
func (o Order) String() string {
	return strconv.FormatUint(o.Ms, 10) + "-" + strconv.FormatUint(o.Seq, 10)
}

// parseOrder reads a stream entry id; ok is false for anything else.
func parseOrder(id string) (Order, bool) {
	ms, seq, found := strings.Cut(id, "-")
	if !found {
		return Order{}, false
	}
	m, err1 := strconv.ParseUint(ms, 10, 64)
	s, err2 := strconv.ParseUint(seq, 10, 64)
	if err1 != nil || err2 != nil {
		return Order{}, false
	}
	return Order{m, s}, true
}
