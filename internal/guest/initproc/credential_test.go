package initproc

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/smolvm/smolvm/internal/guest/protocol"
)

// TestStartAsUser starts a real program with a User and checks the ids it
// runs with, supplementary groups included (and root's dropped).
func TestStartAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("switching users needs root")
	}
	dir := t.TempDir()
	out, err := os.Create(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	for _, tc := range []struct {
		user *protocol.User
		want string
	}{
		{&protocol.User{UID: 65534, GID: 65534}, "65534 65534 65534\n"},
		{&protocol.User{UID: 1000, GID: 100, Groups: []uint32{20, 30}}, "1000 100 100 20 30\n"},
		{nil, "0 0 0\n"},
	} {
		out.Truncate(0)
		out.Seek(0, 0)
		spec := Spec{
			Argv:   []string{"sh", "-c", `echo "$(id -u) $(id -g) $(id -G)"`},
			Env:    BuildEnv(nil),
			Dir:    "/", // t.TempDir's parent is closed to other users
			User:   tc.user,
			Stdout: out, Stderr: out,
		}
		if got := run(t, spec, nil); got != 0 {
			data, _ := os.ReadFile(out.Name())
			t.Fatalf("user %+v: status %d: %s", tc.user, got, data)
		}
		if data, _ := os.ReadFile(out.Name()); string(data) != tc.want {
			t.Errorf("user %+v: ids %q, want %q", tc.user, data, tc.want)
		}
	}
}
