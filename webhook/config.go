// Package webhook tells an app's back end what happened on its channels:
// channels occupied and vacated, members added and removed, client events,
// cache misses and subscription counts, in Pusher's payload shape, signed
// with the app secret, batched per app, delivered off the event loops and
// retried for a bounded time.
package webhook

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Event names, as Pusher sends them.
const (
	ChannelOccupied   = "channel_occupied"
	ChannelVacated    = "channel_vacated"
	MemberAdded       = "member_added"
	MemberRemoved     = "member_removed"
	ClientEvent       = "client_event"
	CacheMiss         = "cache_miss"
	SubscriptionCount = "subscription_count"
)

var allNames = []string{ChannelOccupied, ChannelVacated, MemberAdded, MemberRemoved, ClientEvent, CacheMiss, SubscriptionCount}

// Config is one webhook of an app, in soketi's shape so a soketi config
// carries over.
type Config struct {
	URL        string            `json:"url"`
	EventTypes []string          `json:"event_types"`
	Headers    map[string]string `json:"headers,omitempty"`
	Filter     Filter            `json:"filter,omitempty"`
}

// Filter narrows a webhook to channels by name; empty parts match all.
type Filter struct {
	ChannelNameStartsWith string `json:"channel_name_starts_with,omitempty"`
	ChannelNameEndsWith   string `json:"channel_name_ends_with,omitempty"`
}

// Mask is a set of event names, one bit each.
type Mask uint8

func bit(name string) Mask {
	for i, n := range allNames {
		if n == name {
			return 1 << i
		}
	}
	return 0
}

// Has says whether the set holds the event name.
func (m Mask) Has(name string) bool { return m&bit(name) != 0 }

// Wanted is every event name any of the webhooks asks for; the hub builds
// no event nobody wants.
func Wanted(hooks []Config) Mask {
	var m Mask
	for _, h := range hooks {
		for _, t := range h.EventTypes {
			m |= bit(t)
		}
	}
	return m
}

// Matches says whether the webhook takes the event.
func (c Config) Matches(ev Event) bool {
	if !strings.HasPrefix(ev.Channel, c.Filter.ChannelNameStartsWith) || !strings.HasSuffix(ev.Channel, c.Filter.ChannelNameEndsWith) {
		return false
	}
	for _, t := range c.EventTypes {
		if t == ev.Name {
			return true
		}
	}
	return false
}

// Validate explains what is wrong with a webhook's config, if anything.
func (c Config) Validate() error {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("webhook url %q: give an absolute http:// or https:// URL", c.URL)
	}
	if len(c.EventTypes) == 0 {
		return fmt.Errorf("webhook %s: event_types is empty: list the events to send (%s)", c.URL, strings.Join(allNames, ", "))
	}
	for _, t := range c.EventTypes {
		if bit(t) == 0 {
			return fmt.Errorf("webhook %s: unknown event type %q: use one of %s", c.URL, t, strings.Join(allNames, ", "))
		}
	}
	for k := range c.Headers {
		if k == "" || strings.ContainsAny(k, " :\r\n") {
			return errors.New("webhook " + c.URL + ": header name " + fmt.Sprintf("%q", k) + " is not a valid HTTP header name")
		}
	}
	return nil
}
