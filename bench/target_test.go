package main

import "testing"

func TestParseTargetsRefusesNonLoopback(t *testing.T) {
	for _, bad := range []string{"10.0.0.1:6001", "192.168.1.2:80", "8.8.8.8:53", "example.com:80", "[2001:db8::1]:1", "127.0.0.1"} {
		if _, err := parseTargets(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	ts, err := parseTargets("127.0.0.1:6001, localhost:6002,[::1]:6003,127.9.9.9:1")
	if err != nil || len(ts) != 4 {
		t.Fatalf("loopback targets refused: %v", err)
	}
}
