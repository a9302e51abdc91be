package vmtest

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBootStdio: the program's stdio over the virtio console. Input
// piped to the image reaches the program and ends with end of file; 10 MB
// of output survive a host reader that stops reading for a while, and
// the guest keeps running meanwhile (its stderr keeps flowing while
// stdout is blocked: no vCPU waits for the host's stdout).
func TestBootStdio(t *testing.T) {
	RequireKVM(t)
	bin := Bin(t)
	needBusybox(t)
	img := filepath.Join(t.TempDir(), "bb.vm")
	if r := Run(t, filepath.Join(bin, "smolvm"), "build", "-o", img, "--binary", busybox, "--", "busybox", "true"); r.Status != 0 {
		t.Fatalf("build: status %d: %s", r.Status, r.Stderr)
	}
	t.Run("stdin-pipe", func(t *testing.T) {
		t.Parallel()
		in := make([]byte, 200<<10)
		rand.Read(in)
		sum := sha256.Sum256(in)
		cmd := exec.Command(img, "sha256sum")
		cmd.Stdin = bytes.NewReader(in)
		r := RunCmd(t, cmd)
		if want := hex.EncodeToString(sum[:]) + "  -\n"; r.Stdout != want || r.Status != 0 {
			t.Errorf("stdout %q status %d, want %q 0; stderr:\n%s", r.Stdout, r.Status, want, r.Stderr)
		}
	})
	t.Run("slow-reader-10MB", func(t *testing.T) {
		t.Parallel()
		const n = 1400000 // `seq 1 n` is 10.09 MB
		var want bytes.Buffer
		for i := 1; i <= n; i++ {
			fmt.Fprintf(&want, "%d\n", i)
		}
		cmd := exec.Command(img, "sh", "-c", `busybox seq 1 `+fmt.Sprint(n)+` & for i in 0 1 2; do echo tick$i >&2; busybox sleep 1; done; wait`)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		kill := time.AfterFunc(BootTimeout, func() { cmd.Process.Kill() })
		defer kill.Stop()
		// Nobody reads stdout until the guest has ticked three times:
		// its output fills the pipe and the console queue long before.
		errLines := bufio.NewScanner(stderr)
		var seen []string
		for errLines.Scan() {
			seen = append(seen, errLines.Text())
			if errLines.Text() == "tick2" {
				break
			}
		}
		if len(seen) == 0 || seen[len(seen)-1] != "tick2" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the guest stalled while its stdout was not read: stderr %q", seen)
		}
		go io.Copy(io.Discard, stderr)
		// Now read slowly, in small pieces.
		var got bytes.Buffer
		buf := make([]byte, 16<<10)
		for {
			k, err := stdout.Read(buf)
			got.Write(buf[:k])
			if err != nil {
				break
			}
			if got.Len() < 1<<20 {
				time.Sleep(time.Millisecond)
			}
		}
		err = cmd.Wait()
		if err != nil {
			t.Errorf("exit: %v", err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			i := 0
			for i < min(got.Len(), want.Len()) && got.Bytes()[i] == want.Bytes()[i] {
				i++
			}
			t.Errorf("stdout: %d bytes, want %d; first difference at byte %d (%q)", got.Len(), want.Len(), i,
				strings.TrimSpace(string(got.Bytes()[max(0, i-20):min(got.Len(), i+20)])))
		}
	})
}
