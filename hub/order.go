package hub

import (
	"strconv"
	"strings"
)

// Order places a cached event in its app's bus order: a Redis stream entry
// id (ms-seq), or the single-node bus's counter (Seq), then the event's
// position in that publish (one API call may publish several events on one
// channel). The zero Order is "unknown".
type Order struct {
	Ms, Seq uint64
	Pos     uint32
}

// After says whether o comes later in bus order than p.
func (o Order) After(p Order) bool {
	if o.Ms != p.Ms {
		return o.Ms > p.Ms
	}
	if o.Seq != p.Seq {
		return o.Seq > p.Seq
	}
	return o.Pos > p.Pos
}

func (o Order) IsZero() bool { return o == Order{} }

// String is the stream entry id, ms-seq, then .pos.
func (o Order) String() string {
	return strconv.FormatUint(o.Ms, 10) + "-" + strconv.FormatUint(o.Seq, 10) + "." + strconv.FormatUint(uint64(o.Pos), 10)
}

// parseOrder reads a stream entry id, with or without .pos; ok is false for
// anything else.
func parseOrder(id string) (Order, bool) {
	id, pos, hasPos := strings.Cut(id, ".")
	ms, seq, found := strings.Cut(id, "-")
	if !found {
		return Order{}, false
	}
	m, err1 := strconv.ParseUint(ms, 10, 64)
	s, err2 := strconv.ParseUint(seq, 10, 64)
	if err1 != nil || err2 != nil {
		return Order{}, false
	}
	o := Order{Ms: m, Seq: s}
	if hasPos {
		p, err := strconv.ParseUint(pos, 10, 32)
		if err != nil {
			return Order{}, false
		}
		o.Pos = uint32(p)
	}
	return o, true
}
