package main

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/joho/godotenv"
)

// envVars is where Reverb's variables come from: the process environment
// first, then the --env-file, so what systemd or a shell sets wins over the
// file the app ships. The file is never copied into the process
// environment.
type envVars struct {
	lookup   func(string) (string, bool) // the process environment
	file     map[string]string
	filePath string
	// dollar holds the file's keys whose value has a bare $NAME outside
	// single quotes: the parser expands it, Laravel keeps it literally.
	dollar map[string]bool
	// taken records the keys whose value came from the file.
	taken map[string]bool
}

// bareDollar is what the parser expands and phpdotenv does not ($NAME,
// $(NAME); phpdotenv only expands ${NAME}).
var bareDollar = regexp.MustCompile(`(^|[^\\])\$\(?[A-Z0-9_]`)

// readEnvFile parses a Laravel .env; an empty path means no file.
func readEnvFile(path string) (envVars, error) {
	env := envVars{filePath: path, taken: map[string]bool{}}
	if path == "" {
		return env, nil
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return env, fmt.Errorf("--env-file: %w", err)
	}
	if env.file, err = godotenv.UnmarshalBytes(src); err != nil {
		return env, fmt.Errorf("--env-file %s: %w", path, err)
	}
	env.dollar = map[string]bool{}
	for _, line := range strings.Split(string(src), "\n") {
		line = strings.TrimPrefix(strings.TrimSpace(line), "export ")
		key, value, ok := strings.Cut(line, "=")
		value = strings.TrimSpace(value)
		if ok && !strings.HasPrefix(value, "'") && bareDollar.MatchString(value) {
			env.dollar[strings.TrimSpace(key)] = true
		}
	}
	return env, nil
}

// checkDollars refuses a value Laravel and Resound would read differently
// (a secret or password with a $ in it), rather than start with the wrong
// one.
func (e envVars) checkDollars() error {
	var keys []string
	for key := range e.taken {
		if e.dollar[key] {
			keys = append(keys, key)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	sort.Strings(keys)
	return fmt.Errorf("%s in %s: a $ followed by a name is read as a variable here but literally by Laravel; put the value in single quotes ('...') or write ${NAME} if it is one",
		strings.Join(keys, ", "), e.filePath)
}

// get returns the value as Laravel's env() helper would see it, and where it
// came from for error messages. An empty value counts as unset, so an empty
// variable in the environment does not hide the file's.
func (e envVars) get(name string) (value, origin string) {
	if v, ok := e.lookup(name); ok && v != "" {
		return laravelValue(v), "the environment"
	}
	if v := e.file[name]; v != "" {
		e.taken[name] = true
		return laravelValue(v), e.filePath
	}
	return "", ""
}

// laravelValue applies env()'s keywords: a Laravel .env says
// REDIS_PASSWORD=null to mean "no password", not the password "null".
func laravelValue(v string) string {
	switch strings.ToLower(v) {
	case "null", "(null)", "empty", "(empty)":
		return ""
	case "true", "(true)":
		return "true"
	case "false", "(false)":
		return "false"
	}
	return v
}

// parseBool takes what env() turns into a boolean, plus 1 and 0.
func parseBool(v string) (bool, bool) {
	switch v {
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	return false, false
}
