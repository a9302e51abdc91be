package initproc

import (
	"strings"

	"github.com/smolvm/smolvm/internal/guest/protocol"
)

// Defaults for variables the program gets when Config.Env does not set them.
// smol-init's own environment (whatever the kernel passed to PID 1) is never
// inherited: the program sees exactly Config.Env plus these.
var defaultEnv = []string{
	"PATH=" + protocol.DefaultPath,
	"HOME=/",
	"TERM=linux", // the console is a serial line driven by the kernel's tty layer
}

// BuildEnv returns the program's environment: env with duplicates of a key
// collapsed (the last value wins, kept at the key's first position, so the
// result has each key once), followed by defaultEnv entries for keys env does
// not set. A key set to the empty string counts as set.
func BuildEnv(env []string) []string {
	out := make([]string, 0, len(env)+len(defaultEnv))
	index := make(map[string]int, len(env)+len(defaultEnv))
	add := func(kv string, override bool) {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := index[k]; ok {
			if override {
				out[i] = kv
			}
			return
		}
		index[k] = len(out)
		out = append(out, kv)
	}
	for _, kv := range env {
		add(kv, true)
	}
	for _, kv := range defaultEnv {
		add(kv, false)
	}
	return out
}

// Getenv returns the value of key in env (the last one if repeated, as the C
// library's getenv would see after BuildEnv) and whether it is set.
func Getenv(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}
