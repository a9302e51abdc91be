package ksyms

import (
	"strings"
	"testing"
)

func TestLookup(t *testing.T) {
	tab, err := Parse(strings.NewReader(`ffffffff81000000 T _text
ffffffff81000100 t helper
ffffffff81000200 D some_data
ffffffff81000300 T later
`))
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[uint64]string{
		0xffffffff80ffffff: "?",
		0xffffffff81000000: "_text",
		0xffffffff810000ff: "_text",
		0xffffffff81000100: "helper",
		0xffffffff81000250: "helper", // data symbols are skipped
		0xffffffff81000300: "later",
	} {
		if got := tab.Lookup(addr); got != want {
			t.Errorf("Lookup(%#x) = %q, want %q", addr, got, want)
		}
	}
}
