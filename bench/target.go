package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// target is one server node. The bench refuses anything outside loopback:
// it is a load generator, and on this machine only local servers are ours.
type target struct {
	HostPort string // as given, used for the Host header
	IP       net.IP
	Port     int
}

func parseTargets(list string) ([]target, error) {
	var out []target
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		t, err := parseTarget(s)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no targets given")
	}
	return out, nil
}

func parseTarget(s string) (target, error) {
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		return target{}, fmt.Errorf("target %q: %v", s, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return target{}, fmt.Errorf("target %q: bad port", s)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return target{}, fmt.Errorf("target %q: host must be a literal loopback IP or localhost", s)
	}
	if !ip.IsLoopback() {
		return target{}, fmt.Errorf("target %q is not a loopback address: the bench only loads local servers", s)
	}
	return target{HostPort: s, IP: ip, Port: port}, nil
}

func (t target) sockaddr() (family int, sa unix.Sockaddr) {
	if ip4 := t.IP.To4(); ip4 != nil {
		a := &unix.SockaddrInet4{Port: t.Port}
		copy(a.Addr[:], ip4)
		return unix.AF_INET, a
	}
	a := &unix.SockaddrInet6{Port: t.Port}
	copy(a.Addr[:], t.IP.To16())
	return unix.AF_INET6, a
}

func (t target) baseURL() string {
	return "http://" + net.JoinHostPort(t.IP.String(), strconv.Itoa(t.Port))
}

// sourceAddrs are the local addresses sockets bind to before connect:
// 127.0.0.2, .3, ... Each source IP has its own ephemeral port space per
// destination, so tens of thousands of sockets never run out of ports.
func sourceAddrs(n int) []*unix.SockaddrInet4 {
	var out []*unix.SockaddrInet4
	for i := 0; i < n && i < 250; i++ {
		out = append(out, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, byte(2 + i)}})
	}
	return out
}
