package main

// Helpers for the cluster tests (cluster_test.go): a real redis-server on a
// free loopback port, without persistence, that can be stopped and started
// again on the same port; a minimal RESP client to look inside it; resound
// nodes sharing it; and HTTP API calls signed for any app.

import (
	"bufio"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// requireRedis returns the redis-server binary. Without one the test is
// skipped, unless RESOUND_REQUIRE_REDIS is set (scripts/test.sh sets it after
// installing redis), so CI never skips the cluster tests silently.
func requireRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("RESOUND_REQUIRE_REDIS") != "" {
			t.Fatalf("RESOUND_REQUIRE_REDIS is set but redis-server is not installed (%v); scripts/redis.sh installs it", err)
		}
		t.Skip("cluster tests need redis-server on PATH: run scripts/redis.sh (apt-get install redis-server); " +
			"set RESOUND_REQUIRE_REDIS=1 to make its absence a failure")
	}
	return bin
}

// redisServer is one redis-server process on a fixed port.
type redisServer struct {
	t        *testing.T
	bin      string
	port     int
	password string
	extra    []string
	cmd      *exec.Cmd
	logs     *syncBuffer
	done     chan struct{}
	starts   int
}

// startRedis starts redis-server on a free port with no persistence (so a
// restart loses every key). extra are more redis-server arguments.
func startRedis(t *testing.T, extra ...string) *redisServer {
	t.Helper()
	r := &redisServer{t: t, bin: requireRedis(t), port: freePort(t), extra: extra}
	for i, a := range extra {
		if a == "--requirepass" && i+1 < len(extra) {
			r.password = extra[i+1]
		}
	}
	r.start()
	t.Cleanup(func() {
		r.kill()
		if t.Failed() {
			t.Logf("redis-server log:\n%s", r.logs.String())
		}
	})
	return r
}

func (r *redisServer) addr() string { return fmt.Sprintf("127.0.0.1:%d", r.port) }

// url is the redis:// URL of database db, with the password if any.
func (r *redisServer) url(db int) string {
	auth := ""
	if r.password != "" {
		auth = ":" + r.password + "@"
	}
	return fmt.Sprintf("redis://%s%s/%d", auth, r.addr(), db)
}

// start (re)starts the process on r.port and waits until it answers PING.
func (r *redisServer) start() {
	r.t.Helper()
	args := append([]string{"--save", "", "--appendonly", "no", "--port", strconv.Itoa(r.port),
		"--bind", "127.0.0.1", "--protected-mode", "no", "--dir", r.t.TempDir()}, r.extra...)
	r.cmd = exec.Command(r.bin, args...)
	r.logs = &syncBuffer{}
	r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
	r.done = make(chan struct{})
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("starting redis-server: %v", err)
	}
	r.starts++
	done := r.done
	cmd := r.cmd
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := r.do("PING")
		if err == nil && v == "PONG" {
			return
		}
		select {
		case <-done:
			r.t.Fatalf("redis-server exited at start (start %d): %s", r.starts, r.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on %s did not answer PING: %v %v\n%s", r.addr(), v, err, r.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends redis-server with SIGTERM (no save: persistence is off) and waits.
func (r *redisServer) stop() {
	r.t.Helper()
	if r.cmd == nil {
		return
	}
	stopProcess(r.cmd, r.done)
	// The port must be free before it is started again.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", r.addr(), 200*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		if time.Now().After(deadline) {
			r.t.Fatalf("port %d still accepts after redis-server exited", r.port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *redisServer) kill() {
	if r.cmd == nil {
		return
	}
	select {
	case <-r.done:
		return
	default:
	}
	_ = r.cmd.Process.Kill()
	<-r.done
}

// do runs one command on a fresh connection (AUTH first when a password is
// set) and returns the reply: string, int64, []any, nil or an error reply.
func (r *redisServer) do(args ...string) (any, error) {
	return r.doDB(-1, args...)
}

// doDB is do after SELECT db (db < 0: no SELECT).
func (r *redisServer) doDB(db int, args ...string) (any, error) {
	conn, err := net.DialTimeout("tcp", r.addr(), time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(conn)
	pre := [][]string{}
	if r.password != "" {
		pre = append(pre, []string{"AUTH", r.password})
	}
	if db >= 0 {
		pre = append(pre, []string{"SELECT", strconv.Itoa(db)})
	}
	for _, p := range pre {
		if _, err := conn.Write(respCommand(p)); err != nil {
			return nil, err
		}
		v, err := readRESP(br)
		if err != nil {
			return nil, err
		}
		if e, ok := v.(error); ok {
			return nil, fmt.Errorf("%s: %v", p[0], e)
		}
	}
	if _, err := conn.Write(respCommand(args)); err != nil {
		return nil, err
	}
	v, err := readRESP(br)
	if err != nil {
		return nil, err
	}
	if e, ok := v.(error); ok {
		return nil, e
	}
	return v, nil
}

// list runs a command whose reply is an array of strings, sorted.
func (r *redisServer) list(db int, args ...string) []string {
	r.t.Helper()
	v, err := r.doDB(db, args...)
	if err != nil {
		r.t.Fatalf("redis %v: %v", args, err)
	}
	arr, ok := v.([]any)
	if !ok {
		r.t.Fatalf("redis %v: not an array: %#v", args, v)
	}
	out := make([]string, 0, len(arr))
	for _, x := range arr {
		s, _ := x.(string)
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func respCommand(args []string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return []byte(b.String())
}

func readRESP(br *bufio.Reader) (any, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("empty RESP line")
	}
	switch line[0] {
	case '+':
		return line[1:], nil
	case '-':
		return errors.New(line[1:]), nil
	case ':':
		n, err := strconv.ParseInt(line[1:], 10, 64)
		return n, err
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return nil, err
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, err
		}
		return string(b[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return nil, err
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = readRESP(br); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unexpected RESP %q", line)
}

// ---------------------------------------------------------------------------
// resound nodes

// scalingBlock is the "scaling" config of the contract.
func scalingBlock(r *redisServer, prefix string, nodeTimeout int) string {
	return fmt.Sprintf(`{"enabled":true,"url":%q,"prefix":%q,"node_timeout":%d}`, r.url(0), prefix, nodeTimeout)
}

// clusterConfig is a whole config: apps is a JSON array of apps.
func clusterConfig(r *redisServer, prefix string, nodeTimeout int, apps string) string {
	return fmt.Sprintf(`{"apps":%s,"scaling":%s}`, apps, scalingBlock(r, prefix, nodeTimeout))
}

// defaultAppList is defaultApps' app list.
const defaultAppList = `[{"id":"app-1","key":"key-1","secret":"secret-1","allowed_origins":["*"]}]`

// startCluster starts n resound nodes with the same config.
func startCluster(t *testing.T, n int, config string) []*server {
	t.Helper()
	nodes := make([]*server, n)
	for i := range nodes {
		nodes[i] = startServer(t, config)
	}
	return nodes
}

// startServerEnv is startServer with extra environment (NAME=value).
func startServerEnv(t *testing.T, config string, env []string, args ...string) *server {
	t.Helper()
	cfgPath := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	argv := append([]string{binary_, "start", "--host", "127.0.0.1", "--port", fmt.Sprint(port), "--config", cfgPath}, args...)
	s := spawn(t, fmt.Sprintf("127.0.0.1:%d", port), argv, env)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + s.addr + "/up")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not come up: %v\n%s", err, s.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill9 kills the node with SIGKILL, as a crash would, and waits for it.
func (s *server) kill9() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		s.t.Fatalf("kill -9: %v", err)
	}
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.t.Fatal("process did not exit after SIGKILL")
	}
}

// ---------------------------------------------------------------------------
// apps other than app-1, and the HTTP API signed for them

type appCreds struct{ id, key, secret string }

var app1 = appCreds{appID, appKey, appSecret}

func signedURLAs(app appCreds, addr, method, path string, params map[string]string, body string) string {
	q := map[string]string{"auth_key": app.key, "auth_timestamp": fmt.Sprint(time.Now().Unix()), "auth_version": "1.0"}
	for k, v := range params {
		q[k] = v
	}
	if body != "" {
		sum := md5.Sum([]byte(body))
		q["body_md5"] = hex.EncodeToString(sum[:])
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + q[k]
	}
	query := strings.Join(parts, "&")
	return "http://" + addr + path + "?" + query + "&auth_signature=" + sign(app.secret, method+"\n"+path+"\n"+query)
}

var apiClient = &http.Client{Timeout: 10 * time.Second}

// apiTry calls the API as app and returns the error instead of failing, for
// polls and for calls made while Redis is down.
func apiTry(app appCreds, s *server, method, path string, params map[string]string, body string) (int, string, error) {
	req, err := http.NewRequest(method, signedURLAs(app, s.addr, method, path, params, body), strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// triggerAs publishes as app through node s and requires 200.
func triggerAs(t *testing.T, app appCreds, s *server, channel, event, data, socketID string) {
	t.Helper()
	body := fmt.Sprintf(`{"name":%q,"channel":%q,"data":%q`, event, channel, data)
	if socketID != "" {
		body += fmt.Sprintf(`,"socket_id":%q`, socketID)
	}
	body += "}"
	status, resp, err := apiTry(app, s, "POST", "/apps/"+app.id+"/events", nil, body)
	if err != nil || status != 200 {
		t.Fatalf("trigger %s %s on %s: %d %s %v", channel, event, s.addr, status, resp, err)
	}
}

// eventually polls check every 100 ms until it returns true, failing with its
// last description after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, check func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := check()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last observed: %s", timeout, what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// getJSON is a GET as app that decodes the JSON answer.
func getJSON(app appCreds, s *server, path string, params map[string]string) (map[string]any, string, error) {
	status, body, err := apiTry(app, s, "GET", path, params, "")
	if err != nil {
		return nil, body, err
	}
	if status != 200 {
		return nil, body, fmt.Errorf("status %d: %s", status, body)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		return nil, body, fmt.Errorf("invalid JSON %q: %v", body, err)
	}
	return out, body, nil
}

// usersOf lists the ids of GET /channels/{ch}/users, sorted.
func usersOf(app appCreds, s *server, ch string) ([]string, string, error) {
	out, body, err := getJSON(app, s, "/apps/"+app.id+"/channels/"+ch+"/users", nil)
	if err != nil {
		return nil, body, err
	}
	list, ok := out["users"].([]any)
	if !ok {
		return nil, body, fmt.Errorf("no users array: %s", body)
	}
	ids := []string{}
	for _, u := range list {
		m, _ := u.(map[string]any)
		ids = append(ids, fmt.Sprint(m["id"]))
	}
	sort.Strings(ids)
	return ids, body, nil
}

// connectionsOf is GET /connections.
func connectionsOf(app appCreds, s *server) (int, string, error) {
	out, body, err := getJSON(app, s, "/apps/"+app.id+"/connections", nil)
	if err != nil {
		return -1, body, err
	}
	n, ok := out["connections"].(float64)
	if !ok {
		return -1, body, fmt.Errorf("no connections number: %s", body)
	}
	return int(n), body, nil
}

// ---------------------------------------------------------------------------
// clients

// dialAs connects to app on node s.
func dialAs(t *testing.T, s *server, app appCreds) *client {
	t.Helper()
	return dialKey(t, s, app.key, "")
}

// joinAs subscribes to a private or presence channel signed with app's secret.
func (c *client) joinAs(app appCreds, channel, channelData string) message {
	c.t.Helper()
	auth := app.key + ":" + sign(app.secret, c.socketID+":"+channel+suffix(channelData))
	d := map[string]any{"channel": channel, "auth": auth}
	if channelData != "" {
		d["channel_data"] = channelData
	}
	c.send(map[string]any{"event": "pusher:subscribe", "data": d})
	return c.expect("pusher_internal:subscription_succeeded")
}

// subscribeAs subscribes as app (auth only for private channels).
func (c *client) subscribeAs(app appCreds, channel string) message {
	c.t.Helper()
	if strings.HasPrefix(channel, "private-") || strings.HasPrefix(channel, "presence-") {
		return c.joinAs(app, channel, "")
	}
	c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"channel": channel}})
	return c.expect("pusher_internal:subscription_succeeded")
}

// tryNext reads one message within d; ok is false on timeout. Anything else
// than a text frame or a timeout fails the test.
func (c *client) tryNext(d time.Duration) (message, bool) {
	c.t.Helper()
	f, err := c.readFrame(d)
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return message{}, false
		}
		c.t.Fatalf("socket %s failed while reading: %v", c.socketID, err)
	}
	if f.op != 0x1 {
		c.t.Fatalf("socket %s: expected a text frame, got opcode %d %q", c.socketID, f.op, f.payload)
	}
	var m message
	if err := json.Unmarshal(f.payload, &m); err != nil {
		c.t.Fatalf("server sent invalid JSON %q: %v", f.payload, err)
	}
	return m, true
}

// drain returns every message that arrives until the socket is quiet for d.
func (c *client) drain(d time.Duration) []message {
	c.t.Helper()
	var out []message
	for {
		m, ok := c.tryNext(d)
		if !ok {
			return out
		}
		out = append(out, m)
	}
}

// closeInfo reads until the close frame and returns the code of the last
// pusher:error seen before it (0 if none) and the close code.
func (c *client) closeInfo(d time.Duration) (errCode, closeCode int) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for {
		f, err := c.readFrame(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("socket %s: waiting for a close frame: %v (pusher:error seen: %d)", c.socketID, err, errCode)
		}
		switch f.op {
		case 0x8:
			if len(f.payload) < 2 {
				return errCode, 1005
			}
			return errCode, int(f.payload[0])<<8 | int(f.payload[1])
		case 0x1:
			var m message
			if json.Unmarshal(f.payload, &m) == nil && m.Event == "pusher:error" {
				var d struct {
					Code float64 `json:"code"`
				}
				_ = json.Unmarshal([]byte(m.dataString()), &d)
				errCode = int(d.Code)
			}
		}
	}
}

// presenceData decodes the presence part of subscription_succeeded.
func presenceData(t *testing.T, m message) (count int, ids []string, hash map[string]any) {
	t.Helper()
	p, ok := m.dataObject(t)["presence"].(map[string]any)
	if !ok {
		t.Fatalf("subscription_succeeded without presence: %s", m.Data)
	}
	n, _ := p["count"].(float64)
	for _, id := range p["ids"].([]any) {
		ids = append(ids, fmt.Sprint(id))
	}
	sort.Strings(ids)
	hash, _ = p["hash"].(map[string]any)
	return int(n), ids, hash
}

// memberID is the user_id of member_added / member_removed.
func memberID(t *testing.T, m message) string {
	t.Helper()
	return fmt.Sprint(m.dataObject(t)["user_id"])
}
