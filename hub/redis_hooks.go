package hub

import (
	"github.com/resound/resound/protocol"
	"github.com/resound/resound/webhook"
)

// ScriptedHooks is Hooks whose cluster-wide events (occupied, vacated,
// member added and removed) Redis scripts can queue themselves.
type ScriptedHooks interface {
	Hooks
	// ScriptTarget says where, or false when those events come through Emit.
	ScriptTarget() (webhook.ScriptTarget, bool)
}

// hookScripts is shared state whose scripts queue webhook events in the
// same execution as the change they report.
type hookScripts interface {
	useHooks(*scriptHooks)
}

// scriptHooks is what the presence and occupancy scripts are told about
// the webhooks. A nil one queues nothing.
type scriptHooks struct {
	target webhook.ScriptTarget
	wants  func(app, name string) bool
}

// wireScriptHooks lets the Redis scripts queue the cluster-wide webhook
// events when both the hooks and the shared state can; emit then leaves
// those events to them.
func (h *Hub) wireScriptHooks() {
	sh, ok := h.hooks.(ScriptedHooks)
	if !ok {
		return
	}
	t, ok := sh.ScriptTarget()
	if !ok {
		return
	}
	p, pok := h.presence.(hookScripts)
	o, ook := h.occupancy.(hookScripts)
	if !pok || !ook {
		return
	}
	hs := &scriptHooks{target: t, wants: sh.Wants}
	p.useHooks(hs)
	o.useHooks(hs)
	h.scripted = true
}

// scriptedKind says whether an event of this name is queued by the
// scripts rather than emitted.
func scriptedKind(name string) bool {
	switch name {
	case webhook.ChannelOccupied, webhook.ChannelVacated, webhook.MemberAdded, webhook.MemberRemoved:
		return true
	}
	return false
}

// args are a script's four hook arguments for a change on one channel:
// the store, then which kinds the app wants there.
func (s *scriptHooks) args(app, channel string) []string {
	if s == nil {
		return []string{"", "0", "0", ""}
	}
	return append(s.target.Args(), s.flags(app, channel))
}

// flags are wh_emit's: occupancy for channels that report it, members for
// presence channels.
func (s *scriptHooks) flags(app, channel string) string {
	occupancy := hooksOccupancy(channel) && channel != usersChannel
	members := protocol.KindOf(channel).IsPresence()
	return webhook.Flags(func(name string) bool {
		switch name {
		case webhook.ChannelOccupied, webhook.ChannelVacated:
			return occupancy && s.wants(app, name)
		default:
			return members && s.wants(app, name)
		}
	})
}

// reapArgs are the first three hook arguments, for the reap scripts that
// take each app's flags apart.
func (s *scriptHooks) reapArgs() []string {
	if s == nil {
		return []string{"", "0", "0"}
	}
	return s.target.Args()
}

// appFlags are an app's flags for a reap, which finds the channels itself.
func (s *scriptHooks) appFlags(app string, kinds ...string) string {
	if s == nil {
		return ""
	}
	return webhook.Flags(func(name string) bool {
		for _, k := range kinds {
			if k == name {
				return s.wants(app, name)
			}
		}
		return false
	})
}

// dropped counts the queued events a script trimmed for capacity.
func (s *scriptHooks) dropped(n int64) {
	if s != nil && n > 0 && s.target.Dropped != nil {
		s.target.Dropped(int(n))
	}
}
