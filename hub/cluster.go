package hub

import (
	"context"
	"log"
	"sort"
	"sync/atomic"
	"time"

	"github.com/resound/resound/protocol"
)

// How this node keeps its sockets' member lists right. Each presence
// channel with local sockets has a view: the members its sockets have been
// told. The view changes only set-wise (see Channel.view) by MemberNews from
// the Presence, applied in version order, so news never reaches a socket
// twice. After an outage of the shared store every node registers its
// members again, waits SettleTime for the others to do the same, reads the
// truth and tells its sockets exactly the difference from its view.

// maxEarlyNews bounds the news kept for a view that is still loading.
const maxEarlyNews = 4096

// memberJSON is how a member is stored in the shared state.
func memberJSON(m protocol.Member) string {
	b := append([]byte(`{"user_id":`), m.IDJSON...)
	if m.Info != nil {
		b = append(b, `,"user_info":`...)
		b = append(b, m.Info...)
	}
	return string(append(b, '}'))
}

// decodeMembers turns stored member JSON into members by user id.
func decodeMembers(list []string) map[string]protocol.Member {
	out := make(map[string]protocol.Member, len(list))
	for _, js := range list {
		if m, err := protocol.DecodeMember(js); err == nil {
			out[m.ID] = m
		}
	}
	return out
}

// channelOf finds a presence channel with local sockets.
func (h *Hub) channelOf(app, name string) (*App, *Channel) {
	a := h.apps[app]
	if a == nil {
		return nil, nil
	}
	a.mu.RLock()
	ch := a.channels.get(name)
	a.mu.RUnlock()
	if ch == nil || !ch.kind.IsPresence() {
		return a, nil
	}
	return a, ch
}

// applyNews takes one MemberNews from the Presence.
func (h *Hub) applyNews(n MemberNews) {
	if n.Channel == usersChannel {
		if a := h.apps[n.App]; a != nil {
			a.applyUserNews(n)
		}
		return
	}
	if h.localPresence {
		return // the channels are the truth; they keep no view to update
	}
	a, ch := h.channelOf(n.App, n.Channel)
	if ch == nil {
		return
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if !ch.viewLoaded {
		if ch.early == nil {
			ch.early = new([]MemberNews)
		}
		if len(*ch.early) < maxEarlyNews {
			*ch.early = append(*ch.early, n)
		}
		return
	}
	a.applyNewsLocked(ch, n)
}

func (a *App) applyNewsLocked(ch *Channel, n MemberNews) {
	if n.Version != 0 && n.Version <= ch.viewVersion {
		return // already in the view's list
	}
	ch.viewVersion = max(ch.viewVersion, n.Version)
	if !n.Added {
		a.viewRemoveLocked(ch, n.UserID)
		return
	}
	if m, err := protocol.DecodeMember(n.Member); err == nil {
		a.viewAddLocked(ch, m)
	}
}

// viewAddLocked tells local sockets (but the user's own) that a user
// joined, unless the view has them already.
func (a *App) viewAddLocked(ch *Channel, m protocol.Member) {
	if ch.view.has(m.ID) {
		return
	}
	ch.viewPutLocked(m)
	ch.seq++
	a.fanOut(delivery{ch: ch, exceptUser: m.ID, version: ch.seq, frame: a.frame(protocol.MemberAdded(ch.name, m.IDJSON, m.Info))})
}

// viewRemoveLocked tells local sockets that a user left, if the view has them.
func (a *App) viewRemoveLocked(ch *Channel, userID string) {
	idJSON := ch.viewDropLocked(userID)
	if idJSON == nil {
		return
	}
	ch.seq++
	a.fanOut(delivery{ch: ch, exceptUser: userID, version: ch.seq, frame: a.frame(protocol.MemberRemoved(ch.name, idJSON))})
}

// loadView fills a view from the member list a join returned; the news that
// arrived meanwhile and is newer than the list is applied after it.
func (a *App) loadView(ch *Channel, list PresenceList) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.viewLoaded {
		return
	}
	ch.viewResetLocked()
	// Straight into the view: it keys members by id like decodeMembers,
	// without a map per join.
	for _, js := range list.Members {
		if m, err := protocol.DecodeMember(js); err == nil {
			ch.viewPutLocked(m)
		}
	}
	ch.viewVersion = list.Version
	ch.viewLoaded = true
	var early []MemberNews
	if ch.early != nil {
		early = *ch.early
	}
	ch.early = nil
	for _, n := range early {
		a.applyNewsLocked(ch, n)
	}
}

// joinedOffline serves a join the shared store did not take: the view
// falls back to the local members and the user is announced here; the
// resync after the outage tells everyone else.
func (a *App) joinedOffline(ch *Channel, m protocol.Member) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if !ch.viewLoaded {
		ch.viewLoaded = true
		ch.viewResetLocked()
		for local := range ch.members.all() {
			if local.id() != m.ID {
				ch.viewPutLocked(local.member())
			}
		}
		ch.early = nil
	}
	a.viewAddLocked(ch, m)
}

// leftOffline serves a leave the shared store did not take: a user with no
// socket left here is announced gone here; the resync corrects it if they
// are still on another node.
func (a *App) leftOffline(ch *Channel, userID string) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if !ch.members.has(userID) {
		a.viewRemoveLocked(ch, userID)
	}
}

// reap removes a dead node's share of presence and occupancy.
func (h *Hub) reap(ctx context.Context, node string) error {
	gone, err := h.presence.Reap(ctx, node)
	if err != nil {
		return err
	}
	vacated, err := h.occupancy.Reap(ctx, node)
	h.emitReaped(gone, vacated)
	if err != nil {
		return err
	}
	h.recountAll()
	return nil
}

// requestResync asks for a resync; requests during one fold into one more.
func (h *Hub) requestResync() {
	select {
	case h.resyncs <- struct{}{}:
	default:
	}
}

func (h *Hub) resyncLoop() {
	defer h.resyncWG.Done()
	for {
		select {
		case <-h.stop:
			return
		case <-h.resyncs:
		}
		if !h.reregister() {
			continue // the store failed again: the next heartbeat asks again
		}
		select {
		case <-h.stop:
			return
		case <-time.After(h.opts.SettleTime):
		}
		h.reconcile()
	}
}

// reregister writes every share this node holds to the shared store, in
// order with the joins and leaves queued on each shard.
//
// After Redis lost its data the shares go back quietly: the channels and
// members found were announced before the loss, and what changed during it
// cannot be told from a store that forgot it. The quiet is Redis's, not
// this node's (see livenessBeatScript): every node's scripts queue nothing
// new until every node that noticed the loss has refilled its share.
func (h *Hub) reregister() bool {
	var failed atomic.Bool
	lost := h.lostGen.Load()
	h.work.each(func(sh *shard) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for k, s := range sh.shares {
			syncCount := func() error {
				if k.channel == usersChannel {
					return nil
				}
				return h.occupancy.Sync(ctx, k.app, k.channel, s.subscriptions)
			}
			syncMembers := func() error {
				if !protocol.KindOf(k.channel).IsPresence() && k.channel != usersChannel {
					return nil
				}
				local := make([]LocalMember, 0, len(s.members))
				for _, m := range s.members {
					local = append(local, *m)
				}
				return h.presence.Sync(ctx, k.app, k.channel, local)
			}
			// In the order a join or a leave makes its changes, for the
			// webhooks the syncs queue: a channel is occupied before its
			// members are added, and vacated after they are removed.
			first, then := syncCount, syncMembers
			if s.subscriptions <= 0 {
				first, then = syncMembers, syncCount
			}
			err := first()
			if err == nil {
				err = then()
			}
			if err != nil {
				failed.Store(true)
				continue
			}
			s.dirty = false
			if s.subscriptions <= 0 && len(s.members) == 0 {
				delete(sh.shares, k)
			}
		}
	})
	if failed.Load() {
		return false
	}
	// Only this loop writes refilledGen; a loss noticed during this pass
	// raised lostGen past lost, so the node stays refilling and the resync
	// that loss asked for runs next.
	h.refilledGen.Store(lost)
	return true
}

// refilling says this node has not registered its share again since Redis
// last lost its data.
func (h *Hub) refilling() bool {
	return h.lostGen.Load() != h.refilledGen.Load()
}

// reconcile reads every local presence channel's members and tells local
// sockets exactly the difference from their view.
func (h *Hub) reconcile() {
	changed := 0
	for _, a := range h.apps {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := a.reconcileOnline(ctx)
		cancel()
		if err != nil {
			log.Printf("scaling: reading the signed-in users of app %s failed: %v; retried on the next heartbeat", a.ID, err)
			h.requestResync()
			return
		}
		a.mu.RLock()
		var chans []*Channel
		for ch := range a.channels.all() {
			if ch.kind.IsPresence() && !h.localPresence {
				chans = append(chans, ch)
			}
		}
		a.mu.RUnlock()
		for _, ch := range chans {
			n, err := h.reconcileChannel(a, ch)
			if err != nil {
				log.Printf("scaling: reading the members of %s failed: %v; retried on the next heartbeat", ch.name, err)
				return
			}
			changed += n
		}
	}
	log.Printf("scaling: presence reconciled with Redis (%d member changes told to local sockets)", changed)
}

func (h *Hub) reconcileChannel(a *App, ch *Channel) (int, error) {
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		list, err := h.presence.Members(ctx, a.ID, ch.name)
		cancel()
		if err != nil {
			h.requestResync()
			return 0, err
		}
		ch.mu.Lock()
		if list.Version < ch.viewVersion && attempt < 3 {
			// Newer news arrived while reading: read again.
			ch.mu.Unlock()
			continue
		}
		n := a.applyTruthLocked(ch, list)
		ch.mu.Unlock()
		return n, nil
	}
}

// applyTruthLocked makes the view exactly list, telling local sockets each
// difference once. It returns how many it told.
func (a *App) applyTruthLocked(ch *Channel, list PresenceList) int {
	truth := decodeMembers(list.Members)
	var gone, added []string
	for _, e := range ch.view.entries {
		if _, ok := truth[e.key]; !ok {
			gone = append(gone, e.key)
		}
	}
	for id := range truth {
		if !ch.view.has(id) {
			added = append(added, id)
		}
	}
	sort.Strings(gone)
	sort.Strings(added)
	for _, id := range gone {
		a.viewRemoveLocked(ch, id)
	}
	for _, id := range added {
		a.viewAddLocked(ch, truth[id])
	}
	ch.viewLoaded = true
	ch.early = nil
	ch.viewVersion = max(ch.viewVersion, list.Version)
	return len(gone) + len(added)
}
