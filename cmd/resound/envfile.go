package main

import (
	"fmt"
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
}

// readEnvFile parses a Laravel .env; an empty path means no file.
func readEnvFile(path string) (map[string]string, error) {
	if path == "" {
		return nil, nil
	}
	vars, err := godotenv.Read(path)
	if err != nil {
		return nil, fmt.Errorf("--env-file %s: %w", path, err)
	}
	return vars, nil
}

// get returns the value as Laravel's env() helper would see it, and where it
// came from for error messages. An empty value counts as unset, so an empty
// variable in the environment does not hide the file's.
func (e envVars) get(name string) (value, origin string) {
	if v, ok := e.lookup(name); ok && v != "" {
		return laravelValue(v), "the environment"
	}
	if v := e.file[name]; v != "" {
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
