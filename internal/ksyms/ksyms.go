// Package ksyms maps guest kernel addresses to symbol names using the
// kernel's System.map, for the RIP-sampling profiler.
package ksyms

import (
	"bufio"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Table is a sorted list of text symbols.
type Table struct {
	addrs []uint64
	names []string
}

// Parse reads a System.map ("ADDR TYPE NAME" per line), keeping text
// symbols.
func Parse(r io.Reader) (*Table, error) {
	type sym struct {
		a uint64
		n string
	}
	var syms []sym
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || (f[1] != "t" && f[1] != "T" && f[1] != "W" && f[1] != "w") {
			continue
		}
		a, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil {
			continue
		}
		syms = append(syms, sym{a, f[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	sort.Slice(syms, func(i, j int) bool { return syms[i].a < syms[j].a })
	t := &Table{}
	for _, s := range syms {
		t.addrs = append(t.addrs, s.a)
		t.names = append(t.names, s.n)
	}
	return t, nil
}

// Lookup returns the symbol containing addr ("?" when none is below it).
func (t *Table) Lookup(addr uint64) string {
	i := sort.Search(len(t.addrs), func(i int) bool { return t.addrs[i] > addr })
	if i == 0 {
		return "?"
	}
	return t.names[i-1]
}
