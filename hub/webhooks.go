package hub

import (
	"strings"

	"github.com/resound/resound/protocol"
	"github.com/resound/resound/webhook"
)

// Hooks takes what happened on the apps' channels for their webhooks.
// Both methods are called from event loops and workers and must not block.
type Hooks interface {
	// Wants says whether an app's webhooks take events of this name.
	Wants(app, name string) bool
	Emit(webhook.Event)
}

// emit hands an event to the webhooks when the app wants its kind. Every
// event comes from the one place that saw the change happen cluster-wide
// (a script's answer, a whisper's origin), so each fires once per cluster.
//
// With the scripts queueing the cluster-wide kinds (h.scripted), those are
// theirs: emitting them here too would send them twice.
func (h *Hub) emit(ev webhook.Event) {
	if h.scripted && scriptedKind(ev.Name) {
		return
	}
	if h.hooks != nil && h.hooks.Wants(ev.App, ev.Name) {
		h.hooks.Emit(ev)
	}
}

// hooksOccupancy says whether a channel's occupied and vacated go to
// webhooks: a user's #server-to-user- channel is the user layer's own.
func hooksOccupancy(channel string) bool {
	return !strings.HasPrefix(channel, protocol.UserChannelPrefix)
}

// hooksCount says whether a channel's subscription_count goes to webhooks:
// as with Pusher, not for presence channels (member events tell their
// story), and not for the server's '#' channels.
func hooksCount(channel string) bool {
	return channel != "" && channel[0] != '#' && !protocol.KindOf(channel).IsPresence()
}

// emitJoined reports what one registered subscription changed cluster-wide:
// the channel occupied (first subscriber anywhere), then the user added
// (first socket anywhere), then the new count.
func (h *Hub) emitJoined(app, channel string, count int, joinedUser string) {
	if h.hooks == nil {
		return
	}
	if count == 1 && hooksOccupancy(channel) {
		h.emit(webhook.Event{App: app, Name: webhook.ChannelOccupied, Channel: channel})
	}
	if joinedUser != "" {
		h.emit(webhook.Event{App: app, Name: webhook.MemberAdded, Channel: channel, UserID: joinedUser})
	}
	if count > 0 && hooksCount(channel) {
		h.emit(webhook.Event{App: app, Name: webhook.SubscriptionCount, Channel: channel, Count: count})
	}
}

// emitLeft is emitJoined's reverse: the user removed, then the channel
// vacated, or else the new count.
func (h *Hub) emitLeft(app, channel string, count int, leftUser string) {
	if h.hooks == nil {
		return
	}
	if leftUser != "" {
		h.emit(webhook.Event{App: app, Name: webhook.MemberRemoved, Channel: channel, UserID: leftUser})
	}
	if count == 0 && hooksOccupancy(channel) {
		h.emit(webhook.Event{App: app, Name: webhook.ChannelVacated, Channel: channel})
	} else if count > 0 && hooksCount(channel) {
		h.emit(webhook.Event{App: app, Name: webhook.SubscriptionCount, Channel: channel, Count: count})
	}
}

// emitReaped reports what a dead node's reap changed: its users' leaves,
// then the channels it vacated. With the scripts queueing these kinds
// (h.scripted), the reap scripts have queued them already.
func (h *Hub) emitReaped(gone []MemberNews, vacated []ChannelRef) {
	for _, n := range gone {
		if IsUsersChannel(n.Channel) {
			// Signed-in users share the presence machinery under an
			// internal key; they are no channel's members.
			continue
		}
		h.emit(webhook.Event{App: n.App, Name: webhook.MemberRemoved, Channel: n.Channel, UserID: n.UserID})
	}
	for _, c := range vacated {
		if !hooksOccupancy(c.Channel) {
			continue
		}
		h.emit(webhook.Event{App: c.App, Name: webhook.ChannelVacated, Channel: c.Channel})
	}
}

// emitClientEvent reports a whisper, which its origin node alone sees.
func (s *Session) emitClientEvent(channel, event string, data []byte, userID string) {
	h := s.app.hub
	if h.hooks == nil || !h.hooks.Wants(s.app.ID, webhook.ClientEvent) {
		return
	}
	h.hooks.Emit(webhook.Event{App: s.app.ID, Name: webhook.ClientEvent, Channel: channel, Event: event,
		Data: webhook.DataString(data), SocketID: s.ID(), UserID: userID})
}

// emitCacheMiss reports a subscriber of a cache channel finding nothing.
func (s *Session) emitCacheMiss(channel string) {
	s.app.hub.emit(webhook.Event{App: s.app.ID, Name: webhook.CacheMiss, Channel: channel})
}
