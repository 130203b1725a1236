package hub

import (
	"context"
	"sync"

	"github.com/resound/resound/protocol"
)

// Signed-in users (pusher:signin). Each signed-in socket is one member of
// a presence key of its own, usersChannel, so the Presence seam already
// makes a user online while any socket of theirs is signed in on any node,
// publishes news exactly when that changes, and reaps a dead node's users.
// Every node keeps a view of who is online (filled from a join's member list
// plus the news since, like a presence channel's view) and tells the
// watchers on its sockets each change once.

// usersChannel is the presence key of signed-in users. The space keeps it
// apart from every channel a client or the HTTP API can name.
const usersChannel = "#signed-in users"

// IsUsersChannel reports whether presence news is about signed-in users
// rather than a presence channel (hooks that report channel members skip it).
func IsUsersChannel(channel string) bool { return channel == usersChannel }

// signedIn is who a socket signed in as.
type signedIn struct {
	id        string
	watchlist []string
	// told is the online state last sent for each watchlist entry, so each
	// transition reaches the socket once whatever the order of the initial
	// list and the news.
	told []bool
	// at is this socket's place in the watcher list of each watchlist
	// entry (guarded by App.mu), so a sign-out leaves each list in O(1).
	at  []int32
	s   *Session
	reg *registration
}

// watcher is one watchlist entry of a signed-in socket, as listed under
// the watched id: entry k of su.watchlist.
type watcher struct {
	su *signedIn
	k  int32
}

// userIndex is an app's signed-in sockets and watchers on this node, and
// its view of who is online cluster-wide.
type userIndex struct {
	// byUser and watchers are guarded by App.mu. A watched id's watchers
	// are a slice, not a set: most ids have a few watchers, and a map per
	// watched id would cost ~200 bytes each (100 per watchlist). Each entry
	// knows its place (signedIn.at), so removal swaps in the last one.
	byUser   map[string]map[*Session]struct{}
	watchers map[string][]watcher

	mu sync.Mutex
	// loading: a join is reading the member list, news is kept until then.
	loading, loaded bool
	online          map[string]struct{}
	version         int64
	early           []MemberNews
}

// signin carries out pusher:signin. A refused sign-in leaves the socket as
// it was.
func (s *Session) signin(data []byte) {
	a := s.app
	if s.user() != nil {
		s.signinRefused("AlreadySignedIn", "This socket is already signed in as user "+quote(s.user().id)+": a socket signs in once; open another connection for another user", 400)
		return
	}
	in, err := protocol.DecodeSignin(data)
	if err != nil {
		s.signinRefused("InvalidSignin", err.Error(), 400)
		return
	}
	if max := a.MaxUserDataSize; max > 0 && len(in.UserData) > max {
		s.signinRefused("LimitReached", "user_data is "+itoa(len(in.UserData))+" bytes, over the app's max_user_data_size of "+itoa(max)+" bytes: send less from your user authentication endpoint", 413)
		return
	}
	if !protocol.VerifyUserAuth(a.Key, a.Secret, s.ID(), in.UserData, in.Auth) {
		s.signinRefused("AuthError", "Invalid signature: expected \"<app key>:<hex HMAC-SHA256 of socket_id::user::user_data>\" signed with this app's secret", 401)
		return
	}
	u, err := protocol.DecodeUserData(in.UserData)
	if err != nil {
		s.signinRefused("InvalidUserData", err.Error(), 400)
		return
	}
	if max := a.MaxWatchlistSize; max > 0 && len(u.Watchlist) > max {
		s.signinRefused("LimitReached", "The watchlist has "+itoa(len(u.Watchlist))+" users, over the app's max_watchlist_size of "+itoa(max)+": watch fewer users", 413)
		return
	}
	su := &signedIn{id: u.ID, watchlist: u.Watchlist, told: make([]bool, len(u.Watchlist)), reg: &registration{}}
	s.moreState().user = su
	a.indexUser(s, su, true)
	// In place, the user is registered before signin_success goes out: a
	// client that acts on the success (closes another tab of the same user)
	// must find this socket counted. The watchlist's first event follows
	// the success; queued, the registration tells it behind this send.
	if a.hub.inline {
		s.registerUser(su)
		s.signedInAs(su, in.UserData)
		if len(su.watchlist) > 0 {
			s.tellWatchlist(su)
		}
		return
	}
	if !s.registerUser(su) {
		s.more.user = nil
		a.indexUser(s, su, false)
		s.signinRefused("ServerBusy", "The server is too busy to take sign-ins right now: retry", 503)
		return
	}
	s.signedInAs(su, in.UserData)
}

func (s *Session) signedInAs(su *signedIn, userData string) {
	s.app.hub.logf("socket %s signed in as user %q", s, su.id)
	s.send(protocol.SigninSuccess(userData))
}

func (s *Session) signinRefused(errType, why string, status int) {
	s.app.hub.logf("socket %s sign-in refused: %s", s, why)
	s.send(protocol.SigninError(errType, why, status))
}

// indexUser adds (or removes) a signed-in socket and its watchlist.
func (a *App) indexUser(s *Session, su *signedIn, add bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ix := &a.signins
	if ix.byUser == nil {
		ix.byUser, ix.watchers = map[string]map[*Session]struct{}{}, map[string][]watcher{}
	}
	set := ix.byUser[su.id]
	if add {
		if set == nil {
			set = map[*Session]struct{}{}
			ix.byUser[su.id] = set
		}
		set[s] = struct{}{}
		su.s = s
		su.at = make([]int32, len(su.watchlist))
		for k, id := range su.watchlist {
			su.at[k] = int32(len(ix.watchers[id]))
			ix.watchers[id] = append(ix.watchers[id], watcher{su, int32(k)})
		}
		return
	}
	delete(set, s)
	if len(set) == 0 {
		delete(ix.byUser, su.id)
	}
	for k, id := range su.watchlist {
		list := ix.watchers[id]
		i, last := su.at[k], int32(len(list)-1)
		if i != last {
			moved := list[last]
			list[i] = moved
			moved.su.at[moved.k] = i
		}
		list[last] = watcher{}
		list = list[:last]
		if len(list) == 0 {
			delete(ix.watchers, id)
		} else {
			ix.watchers[id] = list
		}
	}
}

// registerUser makes the user online in the shared state off the loop;
// once done, the socket is told which users of its watchlist are online.
func (s *Session) registerUser(su *signedIn) bool {
	a := s.app
	h := a.hub
	member := `{"user_id":` + string(protocol.AppendString(nil, su.id)) + `}`
	op := func(sh *share) {
		ctx := context.Background()
		var err error
		if q, ok := h.presence.(quietJoiner); ok && a.signins.isLoaded() {
			err = q.JoinQuiet(ctx, a.ID, usersChannel, su.id, member)
		} else {
			a.signins.startLoading()
			var list PresenceList
			if list, err = h.presence.Join(ctx, a.ID, usersChannel, su.id, member, 0); err == nil {
				a.loadOnline(list)
			}
		}
		if err != nil {
			sh.dirty = true
			h.rlog.Printf("signin-join", "scaling: registering signed-in user %q failed: %v; registered again after the outage", su.id, err)
		}
		if sh.members == nil {
			sh.members = map[string]*LocalMember{}
		}
		if lm := sh.members[su.id]; lm != nil {
			lm.Sockets++
		} else {
			sh.members[su.id] = &LocalMember{UserID: su.id, Sockets: 1, Member: member}
		}
		su.reg.done = true
		if len(su.watchlist) > 0 && !h.inline {
			s.runOnLoop(func() { s.tellWatchlist(su) })
		}
	}
	if h.inline {
		h.work.now(a.ID, usersChannel, op)
		return true
	}
	return h.work.join(a.ID, usersChannel, op)
}

// signout undoes the sign-in of a closing socket.
func (s *Session) signout() {
	su := s.user()
	if su == nil {
		return
	}
	s.more.user = nil
	a := s.app
	h := a.hub
	a.indexUser(s, su, false)
	op := func(sh *share) {
		if !su.reg.done {
			return
		}
		if lm := sh.members[su.id]; lm != nil {
			if lm.Sockets--; lm.Sockets <= 0 {
				delete(sh.members, su.id)
			}
		}
		if _, err := h.presence.Leave(context.Background(), a.ID, usersChannel, su.id); err != nil {
			sh.dirty = true
		}
	}
	if h.inline {
		h.work.now(a.ID, usersChannel, op)
		return
	}
	h.work.leave(a.ID, usersChannel, op)
}

// tellWatchlist sends the watched users that are online now.
func (s *Session) tellWatchlist(su *signedIn) {
	if s.closed || s.user() != su {
		return
	}
	ix := &s.app.signins
	var ids []string
	ix.mu.Lock()
	for i, id := range su.watchlist {
		if _, on := ix.online[id]; on && !su.told[i] {
			su.told[i] = true
			ids = append(ids, id)
		}
	}
	ix.mu.Unlock()
	if len(ids) > 0 {
		s.send(protocol.WatchlistEvent(true, ids))
	}
}

// watchNews tells the socket that the user of its watchlist entry k came
// or went, unless it was told so already.
func (s *Session) watchNews(su *signedIn, k int32, online bool) {
	if s.closed || s.user() != su || su.told[k] == online {
		return
	}
	su.told[k] = online
	s.send(protocol.WatchlistEvent(online, su.watchlist[k:k+1]))
}

func (ix *userIndex) isLoaded() bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.loaded
}

func (ix *userIndex) startLoading() {
	ix.mu.Lock()
	if !ix.loaded {
		ix.loading = true
	}
	ix.mu.Unlock()
}

// loadOnline fills the view from a join's member list, then applies the
// news kept meanwhile that is newer than it.
func (a *App) loadOnline(list PresenceList) {
	ix := &a.signins
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.loaded {
		return
	}
	ix.online = make(map[string]struct{}, len(list.Members))
	for id := range decodeMembers(list.Members) {
		ix.online[id] = struct{}{}
	}
	ix.version, ix.loaded, ix.loading = list.Version, true, false
	early := ix.early
	ix.early = nil
	for _, n := range early {
		a.applyUserNewsLocked(n)
	}
}

// applyUserNews takes news about signed-in users from the Presence.
func (a *App) applyUserNews(n MemberNews) {
	ix := &a.signins
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if !ix.loaded {
		// Nobody here signed in yet: the first join reads the whole list.
		if ix.loading && len(ix.early) < maxEarlyNews {
			ix.early = append(ix.early, n)
		}
		return
	}
	a.applyUserNewsLocked(n)
}

func (a *App) applyUserNewsLocked(n MemberNews) {
	ix := &a.signins
	if n.Version != 0 && n.Version <= ix.version {
		return
	}
	ix.version = max(ix.version, n.Version)
	a.setOnlineLocked(n.UserID, n.Added)
}

// setOnlineLocked changes the view and tells the watchers on this node.
func (a *App) setOnlineLocked(userID string, online bool) {
	ix := &a.signins
	if _, was := ix.online[userID]; was == online {
		return
	}
	if online {
		ix.online[userID] = struct{}{}
	} else {
		delete(ix.online, userID)
	}
	a.mu.RLock()
	watchers := append([]watcher(nil), ix.watchers[userID]...)
	a.mu.RUnlock()
	for _, w := range watchers {
		w.su.s.runOnLoop(func() { w.su.s.watchNews(w.su, w.k, online) })
	}
}

// reconcileOnline makes the view exactly the shared state's list (after an
// outage of the store), telling watchers each difference once.
func (a *App) reconcileOnline(ctx context.Context) error {
	ix := &a.signins
	ix.mu.Lock()
	loaded := ix.loaded
	ix.mu.Unlock()
	if !loaded {
		return nil
	}
	list, err := a.hub.presence.Members(ctx, a.ID, usersChannel)
	if err != nil {
		return err
	}
	truth := decodeMembers(list.Members)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var gone []string
	for id := range ix.online {
		if _, ok := truth[id]; !ok {
			gone = append(gone, id)
		}
	}
	for _, id := range gone {
		a.setOnlineLocked(id, false)
	}
	for id := range truth {
		a.setOnlineLocked(id, true)
	}
	ix.version = max(ix.version, list.Version)
	return nil
}

// refuseServerChannel answers a subscription to a '#' channel this socket
// may not join; only #server-to-user-{its own user id} is allowed.
func (s *Session) refuseServerChannel(name string) bool {
	id, ok := protocol.UserOf(name)
	switch {
	case !ok:
		s.send(protocol.SubscriptionError(name, "InvalidChannel", "Channels starting with '#' belong to the server: only #server-to-user-{id} may be subscribed, by the socket signed in as that user", 400))
	case s.user() == nil:
		s.authRefused(name, "Sign in first (pusher.signin()): only the socket signed in as user "+quote(id)+" may subscribe to "+quote(name))
	case s.user().id != id:
		s.authRefused(name, "This socket is signed in as user "+quote(s.user().id)+", not "+quote(id)+": it may only subscribe to its own #server-to-user- channel")
	default:
		return false
	}
	return true
}

func (s *Session) authRefused(channel, why string) {
	s.app.hub.logf("socket %s subscription to %q refused: %s", s, channel, why)
	s.send(protocol.SubscriptionError(channel, "AuthError", why, 403))
}

// CheckSignin closes the socket with 4009 if the app wants sockets to sign
// in within user_authentication_timeout and this one has not; it reports
// whether it did. The engine calls it from the socket's loop in its
// once-a-second sweep, so no timer per socket keeps a closed session alive.
// The difference is signed: the sweep's clock may read a second behind a
// socket that opened after its tick fired, or step back with the wall clock.
func (s *Session) CheckSignin(now int64) bool {
	secs := s.app.UserAuthenticationTimeout
	if secs <= 0 || s.more == nil || s.more.user != nil || s.closed || int32(uint32(now)-s.more.opened) < int32(secs) {
		return false
	}
	s.app.hub.logf("socket %s closed: not signed in within %ds", s, secs)
	s.out.Kick(protocol.ErrUnauthorized, "Connection not authorized within timeout: sign in (pusher.signin()) within "+itoa(secs)+" seconds of connecting")
	return true
}
