package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeEnv stands in for the process environment so the tests never touch
// os.Environ.
func fakeEnv(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

func writeTemp(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// laravelEnv is shaped like the .env a Laravel 11 app ships, with the
// quoting styles, comments and export lines people add to it.
const laravelEnv = `APP_NAME=Laravel
APP_ENV=production
APP_KEY=base64:2fl+Ktvkfl+Fuz4Qp/A75G2RTiWVA/ZoKZvp6fiiM10=
APP_DEBUG=false
APP_URL=https://example.test

# Database
DB_CONNECTION=mysql
DB_PASSWORD="p@ss word#not-a-comment"
MAIL_MAILER=smtp
MAIL_FROM_ADDRESS="hello@example.com"

BROADCAST_CONNECTION=reverb
export REVERB_APP_ID=423501
REVERB_APP_KEY="file-key"   # the key browsers use
REVERB_APP_SECRET='s3cr$ET'
REVERB_HOST="ws.example.test"
REVERB_PORT=443
REVERB_SCHEME=https
REVERB_SERVER_HOST=127.0.0.1
REVERB_SERVER_PORT=9001
REVERB_APP_PING_INTERVAL=45

REDIS_CLIENT=phpredis
REDIS_HOST=10.0.0.5
REDIS_PASSWORD=null
REDIS_PORT=6380

VITE_REVERB_APP_KEY="${REVERB_APP_KEY}"
VITE_REVERB_HOST="${REVERB_HOST}"
`

func TestConfigEnvFileReadsReverbVariables(t *testing.T) {
	envPath := writeTemp(t, ".env", laravelEnv+"REVERB_SCALING_ENABLED=true\n")
	c, err := loadConfig("", envPath, fakeEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Host != "127.0.0.1" || c.Port != 9001 {
		t.Errorf("bind address %s:%d, want the REVERB_SERVER_* one 127.0.0.1:9001 (not REVERB_HOST/PORT)", c.Host, c.Port)
	}
	if len(c.Apps) != 1 {
		t.Fatalf("apps = %+v, want one", c.Apps)
	}
	a := c.Apps[0]
	if a.ID != "423501" || a.Key != "file-key" || a.Secret != "s3cr$ET" || a.PingInterval != 45 {
		t.Errorf("app = %+v, want id 423501 (after export), key file-key (comment stripped), secret s3cr$ET (single quotes literal), ping 45", a)
	}
	s := c.Scaling
	if !s.Enabled || s.Host != "10.0.0.5" || s.Port != 6380 || s.Password != "" {
		t.Errorf("scaling = %+v, want enabled, 10.0.0.5:6380 and no password (REDIS_PASSWORD=null)", s)
	}
}

func TestConfigEnvFileIgnoresRedisWithoutScaling(t *testing.T) {
	envPath := writeTemp(t, ".env", "REDIS_PORT=not-a-port\nREDIS_HOST=10.0.0.5\n")
	c, err := loadConfig("", envPath, fakeEnv(nil))
	if err != nil {
		t.Fatalf("REDIS_* must not be read while scaling is off: %v", err)
	}
	if c.Scaling.Host != "" {
		t.Errorf("scaling host = %q, want unset", c.Scaling.Host)
	}
}

func TestConfigPrecedence(t *testing.T) {
	cfgPath := writeTemp(t, "config.json", `{"host":"10.1.1.1","port":7000,"path":"/from-config",
		"scaling":{"enabled":true,"host":"config-redis","db":3},
		"apps":[{"id":"423501","key":"config-key","secret":"config-secret"}]}`)
	envPath := writeTemp(t, ".env", laravelEnv)
	process := map[string]string{
		"REVERB_SERVER_PORT": "9500", // the environment beats the file
		"REVERB_SERVER_HOST": "",     // empty counts as unset: the file's value stays
		"REDIS_PASSWORD":     "from-env",
	}
	c, err := loadConfig(cfgPath, envPath, fakeEnv(process))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 9500 {
		t.Errorf("port = %d, want 9500 from the environment over 9001 in the file and 7000 in the config", c.Port)
	}
	if c.Host != "127.0.0.1" {
		t.Errorf("host = %q, want 127.0.0.1 from the .env over the config file", c.Host)
	}
	if c.Path != "/from-config" {
		t.Errorf("path = %q, want the config file's, which nothing else sets", c.Path)
	}
	if len(c.Apps) != 1 || c.Apps[0].Key != "file-key" {
		t.Errorf("apps = %+v, want the .env app replacing the config app with the same id", c.Apps)
	}
	s := c.Scaling
	if s.Host != "10.0.0.5" || s.Password != "from-env" || s.DB != 3 {
		t.Errorf("scaling = %+v, want host from the .env, password from the environment, db 3 from the config", s)
	}
}

func TestConfigDefaultsWithoutSources(t *testing.T) {
	c, err := loadConfig("", "", fakeEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Host != "" || c.Port != 0 || len(c.Apps) != 0 || c.Scaling.Enabled {
		t.Errorf("config = %+v, want zero values so the engine defaults apply", c)
	}
}

func TestConfigEnvErrorsNameKeyAndSource(t *testing.T) {
	cases := []struct {
		name, file string
		process    map[string]string
		want       string
	}{
		{"bad port in file", "REVERB_SERVER_PORT=abc\n", nil, `REVERB_SERVER_PORT="abc" in ENVFILE: expected a port number`},
		{"port out of range", "REVERB_SERVER_PORT=70000\n", nil, `REVERB_SERVER_PORT="70000" in ENVFILE: expected a port number`},
		{"bad port in environment", "", map[string]string{"REVERB_SERVER_PORT": "80a"}, `REVERB_SERVER_PORT="80a" in the environment`},
		{"bad boolean", "REVERB_SCALING_ENABLED=yes\n", nil, `REVERB_SCALING_ENABLED="yes" in ENVFILE: expected true or false`},
		{"bad redis port", "REVERB_SCALING_ENABLED=true\nREDIS_PORT=six\n", nil, `REDIS_PORT="six" in ENVFILE: expected a port number`},
		{"negative redis db", "REVERB_SCALING_ENABLED=(true)\nREDIS_DB=-1\n", nil, `REDIS_DB="-1" in ENVFILE: expected a database number`},
		{"bad app limit", "REVERB_APP_ID=a\nREVERB_APP_KEY=k\nREVERB_APP_SECRET=s\nREVERB_APP_MAX_CONNECTIONS=lots\n", nil,
			`REVERB_APP_MAX_CONNECTIONS="lots" in ENVFILE: expected a whole number`},
		{"incomplete app", "REVERB_APP_ID=a\n", map[string]string{"REVERB_APP_KEY": "k"},
			`REVERB_APP_ID (in ENVFILE), REVERB_APP_KEY (in the environment) set but REVERB_APP_SECRET not`},
		{"bare dollar in a secret", "REVERB_APP_ID=a\nREVERB_APP_KEY=k\nREVERB_APP_SECRET=\"s3cr$ET\"\n", nil,
			`REVERB_APP_SECRET in ENVFILE: a $ followed by a name is read as a variable here but literally by Laravel`},
		{"bare dollar unquoted", "REVERB_SCALING_ENABLED=true\nREDIS_PASSWORD=x$(Y)\n", nil, `REDIS_PASSWORD in ENVFILE: a $`},
		{"malformed line", "REVERB_APP_KEY=\"unterminated\n", nil, `--env-file ENVFILE: unterminated quoted value`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			envPath := writeTemp(t, ".env", tc.file)
			_, err := loadConfig("", envPath, fakeEnv(tc.process))
			want := strings.ReplaceAll(tc.want, "ENVFILE", envPath)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error = %v, want it to contain %q", err, want)
			}
		})
	}
}

// TestConfigDollarOnlyWhereItMatters: a $ is refused only in a value Resound
// takes from the file, and never in single quotes or ${NAME}.
func TestConfigDollarOnlyWhereItMatters(t *testing.T) {
	envPath := writeTemp(t, ".env", `REVERB_APP_ID=a
REVERB_APP_KEY="${APP_NAME}-key"
REVERB_APP_SECRET='s3cr$ET'
REDIS_PASSWORD="pa$WORD"
MAIL_PASSWORD=pa$WORD
DB_PASSWORD=pa\$WORD
`)
	if _, err := loadConfig("", envPath, fakeEnv(nil)); err != nil {
		t.Errorf("scaling off, so REDIS_PASSWORD is not read: %v", err)
	}
	if _, err := loadConfig("", envPath, fakeEnv(map[string]string{"REVERB_SCALING_ENABLED": "true", "REDIS_PASSWORD": "x"})); err != nil {
		t.Errorf("the environment's REDIS_PASSWORD wins, so the file's is not read: %v", err)
	}
	_, err := loadConfig("", envPath, fakeEnv(map[string]string{"REVERB_SCALING_ENABLED": "true"}))
	if err == nil || !strings.Contains(err.Error(), "REDIS_PASSWORD in "+envPath) {
		t.Errorf("error = %v, want one naming REDIS_PASSWORD and the file", err)
	}
}

func TestConfigEnvFileMissing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.env")
	_, err := loadConfig("", missing, fakeEnv(nil))
	if err == nil || !strings.Contains(err.Error(), "--env-file: open "+missing) {
		t.Errorf("error = %v, want one naming %s", err, missing)
	}
}

func TestConfigLaravelKeywords(t *testing.T) {
	cases := map[string]string{
		"null": "", "(null)": "", "NULL": "", "empty": "", "(empty)": "",
		"(true)": "true", "TRUE": "true", "(false)": "false", "secret": "secret",
	}
	for in, want := range cases {
		if got := laravelValue(in); got != want {
			t.Errorf("laravelValue(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConfigCompressionSwitch(t *testing.T) {
	for text, off := range map[string]bool{`{}`: false, `{"compression":true}`: false, `{"compression":false}`: true} {
		c, err := loadConfig(writeTemp(t, "cfg.json", text), "", fakeEnv(nil))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.engineOptions().NoCompression; got != off {
			t.Errorf("%s: NoCompression %v, want %v", text, got, off)
		}
	}
}

func TestConfigMemoryReturnInterval(t *testing.T) {
	for text, want := range map[string]time.Duration{`{}`: 10 * time.Second, `{"memory_return_interval":30}`: 30 * time.Second, `{"memory_return_interval":0}`: -1} {
		c, err := loadConfig(writeTemp(t, "cfg.json", text), "", fakeEnv(nil))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.engineOptions().WithDefaults().MemoryReturnInterval; got != want {
			t.Errorf("%s: memory return every %v, want %v", text, got, want)
		}
	}
}

func TestConfigTLSFilesFromConfigEnvFileAndEnvironment(t *testing.T) {
	cfgPath := writeTemp(t, "config.json", `{"tls_cert_file":"/cfg/cert.pem","tls_key_file":"/cfg/key.pem"}`)
	envPath := writeTemp(t, ".env", "REVERB_TLS_CERT=/dotenv/cert.pem\nREVERB_TLS_KEY=/dotenv/key.pem\n")
	c, err := loadConfig(cfgPath, "", fakeEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.TLSCertFile != "/cfg/cert.pem" || c.TLSKeyFile != "/cfg/key.pem" {
		t.Errorf("config file: %q %q", c.TLSCertFile, c.TLSKeyFile)
	}
	c, err = loadConfig(cfgPath, envPath, fakeEnv(map[string]string{"REVERB_TLS_KEY": "/env/key.pem"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.TLSCertFile != "/dotenv/cert.pem" || c.TLSKeyFile != "/env/key.pem" {
		t.Errorf("cert %q (want the .env's over the config), key %q (want the environment's over the .env)", c.TLSCertFile, c.TLSKeyFile)
	}
}
