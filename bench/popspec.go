package main

import (
	"strconv"
	"time"
)

// popSpec describes a population of sockets that one client loop (in this
// process or in a worker process) opens and holds. Socket i of the whole run
// (FirstIndex..FirstIndex+N-1) always gets the same channel, so every
// process can derive channel membership and room sizes without talking.
type popSpec struct {
	Targets    []string      `json:"targets"`
	App        app           `json:"app"`
	N          int           `json:"n"`
	FirstIndex int           `json:"first_index"`
	TotalN     int           `json:"total_n"`
	Channels   int           `json:"channels"`  // public mode: socket i subscribes to bench-(i%Channels); 0 = none
	RoomSize   int           `json:"room_size"` // presence mode when > 0: room = i/RoomSize
	Private    bool          `json:"private"`   // public mode subscribes to private-bench-N instead (signed)
	InFlight   int           `json:"in_flight"`
	SourceIPs  int           `json:"source_ips"`
	Handshake  time.Duration `json:"handshake_timeout"`
	OpenBudget time.Duration `json:"open_budget"` // give up opening after this long
	KernelTS   bool          `json:"kernel_ts"`   // latency to kernel receive time (see kernelts.go)
	Deflate    bool          `json:"deflate"`     // offer permessage-deflate and inflate compressed frames (deflate.go)
	IdleReader bool          `json:"idle_reader"` // the loop runs at SCHED_IDLE (idlereader.go); only with KernelTS
}

func (s popSpec) presence() bool { return s.RoomSize > 0 }

// channelOf returns the channel number of global socket i, or -1 for none.
func (s popSpec) channelOf(i int) int {
	switch {
	case s.presence():
		return i / s.RoomSize
	case s.Channels > 0:
		return i % s.Channels
	}
	return -1
}

func (s popSpec) channelName(ch int) string {
	if s.presence() {
		return "presence-bench-" + strconv.Itoa(ch)
	}
	if s.Private {
		return "private-bench-" + strconv.Itoa(ch)
	}
	return "bench-" + strconv.Itoa(ch)
}

// roomMembers is the size of global socket i's presence room; the last room
// may be short when TotalN is not a multiple of RoomSize.
func (s popSpec) roomMembers(i int) int {
	room := i / s.RoomSize
	return min(s.RoomSize, s.TotalN-room*s.RoomSize)
}

func publicSubscribersOf(totalN, channels, ch int) int {
	n := totalN / channels
	if ch < totalN%channels {
		n++
	}
	return n
}
