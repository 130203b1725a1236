package protocol

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind is a channel's type, decided by its name's prefix.
type Kind uint8

const (
	Public Kind = iota
	Private
	Encrypted
	Presence
	Cache
	PrivateCache
	PresenceCache
	// EncryptedCache is private-encrypted-cache-: end-to-end encrypted, and
	// keeps its last event like the other cache channels.
	EncryptedCache
)

// MaxChannelNameLength is Pusher's documented limit.
const MaxChannelNameLength = 164

// KindOf classifies a channel name. The order matters: the cache prefixes are
// tested before the plain private/presence ones.
func KindOf(name string) Kind {
	switch {
	case strings.HasPrefix(name, "private-encrypted-cache-"):
		return EncryptedCache
	case strings.HasPrefix(name, "private-encrypted-"):
		return Encrypted
	case strings.HasPrefix(name, "private-cache-"):
		return PrivateCache
	case strings.HasPrefix(name, "presence-cache-"):
		return PresenceCache
	case strings.HasPrefix(name, "cache-"):
		return Cache
	case strings.HasPrefix(name, "private-"):
		return Private
	case strings.HasPrefix(name, "presence-"):
		return Presence
	}
	return Public
}

// NeedsAuth reports whether subscribing needs a signature.
func (k Kind) NeedsAuth() bool { return k != Public && k != Cache }

// IsPresence reports whether the channel keeps a member list.
func (k Kind) IsPresence() bool { return k == Presence || k == PresenceCache }

// IsCache reports whether the channel keeps its last event.
func (k Kind) IsCache() bool {
	return k == Cache || k == PrivateCache || k == PresenceCache || k == EncryptedCache
}

// IsEncrypted reports whether the server cannot read the channel's data.
func (k Kind) IsEncrypted() bool { return k == Encrypted || k == EncryptedCache }

// AllowsClientEvents reports whether whispers may be sent on the channel:
// private and presence only, never encrypted ones (the server cannot read them).
func (k Kind) AllowsClientEvents() bool {
	return k == Private || k == Presence || k == PrivateCache || k == PresenceCache
}

// ValidChannelName checks Pusher's character set and length limit. The empty
// name is invalid (it crashed Reverb once). A leading '#' marks Pusher's
// server channels. #server-to-user-{id} follows the user id's rules
// instead: pusher-js subscribes it for whatever id signed in, and the
// server SDKs' sendToUser checks only that the id is a non-empty string.
func ValidChannelName(name string) bool {
	if id, ok := UserOf(name); ok {
		return ValidUserID(id)
	}
	if len(name) == 0 || len(name) > MaxChannelNameLength {
		return false
	}
	start := 0
	if name[0] == '#' {
		if len(name) == 1 {
			return false
		}
		start = 1
	}
	for i := start; i < len(name); i++ {
		if !channelChar(name[i]) {
			return false
		}
	}
	return true
}

// ChannelNameRule says what a valid name looks like, for the error that
// refuses name.
func ChannelNameRule(name string) string {
	if _, ok := UserOf(name); ok {
		return UserChannelPrefix + " followed by a user id: " + UserIDRule
	}
	return "use 1-164 characters from a-z A-Z 0-9 - _ = @ , . ;"
}

// MaxUserIDLength bounds a signed-in user's id in bytes (of UTF-8): room
// for any e-mail address (254) and the ids of identity providers, such as
// "auth0|..." or "google-oauth2|...".
const MaxUserIDLength = 256

// UserIDRule is the user id's rule, for the errors that refuse one.
const UserIDRule = "1-256 bytes of UTF-8 without control characters"

// ValidUserID reports whether a user may sign in with id, which then names
// the channel #server-to-user-{id}. Any printable text is taken (e-mail
// addresses, "auth0|5f7c..."), because ids come from the back end's user
// store; control characters and invalid UTF-8 are not, since they would not
// survive the JSON round trip to the client unchanged.
func ValidUserID(id string) bool {
	if len(id) == 0 || len(id) > MaxUserIDLength {
		return false
	}
	for i := 0; i < len(id); {
		c := id[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(id[i:])
		if r == utf8.RuneError && n == 1 || unicode.IsControl(r) {
			return false
		}
		i += n
	}
	return true
}

func channelChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '-', '_', '=', '@', ',', '.', ';':
		return true
	}
	return false
}

// MaxEventNameLength bounds event names from the HTTP API and clients.
const MaxEventNameLength = 200

// ValidEventName accepts any printable name up to the length limit.
func ValidEventName(name string) bool {
	if len(name) == 0 || len(name) > MaxEventNameLength {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x20 || name[i] == 0x7f {
			return false
		}
	}
	return true
}

// RoutePrefix normalises Reverb's "path" setting: "" or "/prefix", never a
// trailing slash, so "{prefix}/app/{key}" and "{prefix}/apps/..." match.
func RoutePrefix(p string) string {
	for len(p) > 0 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	if p != "" && p[0] != '/' {
		p = "/" + p
	}
	return p
}
