package engine

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The systemd unit in deploy/ must let a drain with the default settings
// finish: systemd SIGKILLs a node still draining at TimeoutStopSec, and
// then every client reconnects at once.
func TestDeployUnitOutlastsTheDefaultDrain(t *testing.T) {
	f, err := os.Open("../deploy/resound.service")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	unit := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			unit[k] = v
		}
	}
	o := Options{}.withDefaults()
	drain := o.DrainDelay + o.DrainWindow + o.ShutdownGrace
	stop, err := strconv.Atoi(unit["TimeoutStopSec"])
	if err != nil || time.Duration(stop)*time.Second <= drain {
		t.Errorf("TimeoutStopSec=%q must be a number of seconds above the default drain (%s)", unit["TimeoutStopSec"], drain)
	}
	want := map[string]string{"KillSignal": "SIGTERM", "Restart": "on-failure", "ExecReload": "/bin/kill -HUP $MAINPID"}
	for k, v := range want {
		if unit[k] != v {
			t.Errorf("%s=%q, want %q", k, unit[k], v)
		}
	}
	if n, err := strconv.Atoi(unit["LimitNOFILE"]); err != nil || n < 65536 {
		t.Errorf("LimitNOFILE=%q: one descriptor per socket needs a high limit", unit["LimitNOFILE"])
	}
}

func TestLooksLikeHTTPOnlyForRequestLines(t *testing.T) {
	for head, want := range map[string]bool{
		"GET /": true, "POST ": true, "HEAD ": true, "OPTIO": true,
		"\x16\x03\x01\x02\x00": false, "SSH-2": false, "get /": false,
	} {
		if got := looksLikeHTTP([]byte(head)); got != want {
			t.Errorf("looksLikeHTTP(%q) = %v, want %v", head, got, want)
		}
	}
}
