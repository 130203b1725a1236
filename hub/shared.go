package hub

import (
	"context"
	"errors"
)

// The state nodes share, behind one small interface each. Every interface
// has an in-memory implementation (one node) and a Redis one (a cluster);
// the hub never asks which it has. Methods taking a context may do network
// I/O: the hub calls them from its workers, never from an event loop.

// MemberNews is a user joining or leaving a presence channel cluster-wide.
// Version orders the news of one channel; it only grows, also across a
// restart of the shared store.
type MemberNews struct {
	App, Channel, UserID string
	// Member is the stored member JSON: {"user_id":...,"user_info":...}.
	Member  string
	Added   bool
	Version int64
}

// PresenceList is every member of a presence channel (member JSON) at Version.
type PresenceList struct {
	Members []string
	Version int64
	// Joined is set by Join when the user was new to the channel
	// cluster-wide; exactly one join sees it.
	Joined bool
}

// ChannelRef names a channel of an app.
type ChannelRef struct{ App, Channel string }

// LocalMember is one user's sockets on one channel of this node.
type LocalMember struct {
	UserID  string
	Sockets int
	Member  string
}

// ErrPresenceFull refuses a join over max_presence_members_per_channel.
var ErrPresenceFull = errors.New("presence channel is full")

// inline is implemented by shared state whose calls never block (the
// in-memory implementations): the hub makes those calls on the event loop,
// in place, instead of handing them to a worker.
type inline interface{ inline() }

// Presence is cluster-wide presence membership. A user is a member while
// any node holds one of their sockets; news is published exactly when the
// cluster-wide set changes, in version order per channel.
type Presence interface {
	// Start delivers every MemberNews of every node (this one included) to
	// news, in version order per channel.
	Start(node string, news func(MemberNews)) error
	// Join adds one socket of a user and returns the members after it. A
	// user new to the channel is refused with ErrPresenceFull when it has
	// max users already (max <= 0: no limit), counted cluster-wide.
	Join(ctx context.Context, app, channel, userID, member string, max int) (PresenceList, error)
	// Leave removes one socket of a user. It says whether that was the
	// user's last socket cluster-wide; exactly one leave sees it.
	Leave(ctx context.Context, app, channel, userID string) (bool, error)
	// Members lists a channel's members.
	Members(ctx context.Context, app, channel string) (PresenceList, error)
	// Count is how many users are on a channel.
	Count(ctx context.Context, app, channel string) (int, error)
	// Sync makes this node's share of a channel exactly local (after an
	// outage), publishing news for users it adds or removes cluster-wide.
	Sync(ctx context.Context, app, channel string, local []LocalMember) error
	// Registered lists the channels where this node has a share.
	Registered(ctx context.Context, app string) ([]string, error)
	// Reap removes a dead node's share (idempotent), publishing news. It
	// returns the users that left cluster-wide with it; a repeated or
	// concurrent reap of the same node returns none of them again.
	Reap(ctx context.Context, node string) ([]MemberNews, error)
	Close() error
}

// Occupancy counts subscriptions per channel and sockets per app,
// cluster-wide, as per-node shares.
type Occupancy interface {
	// Start begins sharing this node's socket counts; local reports them.
	Start(node string, local func(app string) int) error
	// Add changes this node's subscription count of a channel by delta and
	// returns the channel's count cluster-wide after it (-1: unknown), so
	// exactly one Add sees a channel become occupied (1) or vacated (0).
	Add(ctx context.Context, app, channel string, delta int) (int, error)
	// Sync sets this node's subscription count of a channel (after an outage).
	Sync(ctx context.Context, app, channel string, n int) error
	// Channels is the subscription count of every occupied channel.
	Channels(ctx context.Context, app string) (map[string]int, error)
	// Count is one channel's subscription count.
	Count(ctx context.Context, app, channel string) (int, error)
	// OtherConnections is the sockets of an app on other nodes, as last
	// known. It never blocks: event loops call it.
	OtherConnections(app string) int
	// Reap removes a dead node's share (idempotent) and returns the
	// channels it vacated; a repeated or concurrent reap returns none again.
	Reap(ctx context.Context, node string) ([]ChannelRef, error)
	Close() error
}

// LivenessHooks is what a Liveness asks of the hub.
type LivenessHooks struct {
	// Reap removes a dead node's share of the shared state. It may run on
	// several nodes for the same dead node, so it must be idempotent.
	Reap func(ctx context.Context, node string) error
	// Resync asks this node to register its share again: the shared store
	// came back from an outage, lost its data, or took this node for dead.
	Resync func()
	// DataLost says the shared store lost its data; it comes before the
	// Resync it causes.
	DataLost func()
	// Refilling says this node has not yet registered its share again
	// since the last DataLost, so webhooks stay quiet cluster-wide.
	Refilling func() bool
}

// Liveness tracks which nodes are alive and reaps the dead ones.
type Liveness interface {
	Start(node string, hooks LivenessHooks) error
	// Close leaves the cluster: this node's share is removed at once.
	Close() error
}
