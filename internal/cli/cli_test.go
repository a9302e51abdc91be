package cli

import (
	"bytes"
	"strings"
	"testing"
)

// A misspelt flag names the flag it probably meant and the help of the
// subcommand it was given to.
func TestMisspeltFlag(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"build", "--binray", "/bin/true"}, []string{"unknown flag: --binray", "did you mean --binary?", "Run 'smolvm build --help'"}},
		{[]string{"build", "--memroy=64M"}, []string{"did you mean --memory?", "Run 'smolvm build --help'"}},
		{[]string{"inspect", "--verfy", "x.vm"}, []string{"did you mean --verify?", "Run 'smolvm inspect --help'"}},
		{[]string{"build", "--zzzzzzzz"}, []string{"unknown flag: --zzzzzzzz", "Run 'smolvm build --help'"}},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		if st := Main(tt.args, &out, &errb); st != 125 {
			t.Errorf("%v: status %d, want 125", tt.args, st)
		}
		for _, w := range tt.want {
			if !strings.Contains(errb.String(), w) {
				t.Errorf("%v: stderr %q, want it to contain %q", tt.args, errb.String(), w)
			}
		}
		if strings.Contains(errb.String(), "did you mean") && tt.args[1] == "--zzzzzzzz" {
			t.Errorf("%v: suggested a flag for nonsense: %q", tt.args, errb.String())
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"binray", "binary", 2}, {"memroy", "memory", 2}, {"kernel", "kernel", 0}, {"abc", "", 3}, {"verfy", "verify", 1}} {
		if d := editDistance(tt.a, tt.b); d != tt.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, d, tt.d)
		}
	}
}
