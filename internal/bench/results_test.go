package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smolvm/smolvm/internal/vmm"
)

// Every benchmark records its samples here; TestMain writes the medians
// as a table (markdown and JSON) after the run, into $SMOLVM_BENCH_OUT
// (default: the current directory), and prints the markdown.
var results = struct {
	sync.Mutex
	samples map[string][]float64 // "figure" -> one value per run
	order   []string
	notes   map[string]string // figure -> what it is
}{samples: map[string][]float64{}, notes: map[string]string{}}

// record adds one sample of a figure; note says what it measures.
func record(figure string, v float64, note string) {
	results.Lock()
	defer results.Unlock()
	if _, ok := results.samples[figure]; !ok {
		results.order = append(results.order, figure)
	}
	results.samples[figure] = append(results.samples[figure], v)
	results.notes[figure] = note
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Row is one figure of the results table.
type Row struct {
	Figure  string    `json:"figure"`
	Median  float64   `json:"median"`
	Samples []float64 `json:"samples"`
	Note    string    `json:"note"`
}

// Results is the JSON document the benchmark writes.
type Results struct {
	Date     string `json:"date"`
	Host     string `json:"host"`
	Emulated bool   `json:"guest_kernel_emulated"`
	Probe    string `json:"probe"`
	Rows     []Row  `json:"rows"`
}

func TestMain(m *testing.M) {
	code := m.Run()
	results.Lock()
	defer results.Unlock()
	if len(results.order) > 0 {
		if err := writeResults(); err != nil {
			fmt.Fprintf(os.Stderr, "bench: writing results: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// ratios are derived rows: a figure of ours over QEMU's from the same run.
var ratios = []struct{ figure, num, den, note string }{
	{"wall-ratio-vs-qemu", "echo-wall-ms", "qemu-wall-ms", "smolvm's process wall time over QEMU's for the same guest (lower is better)"},
}

func writeResults() error {
	res := Results{Date: time.Now().UTC().Format(time.RFC3339)}
	res.Host, _ = os.Hostname()
	if p, err := vmm.ProbeHost(); err == nil {
		res.Emulated, res.Probe = p.Emulated, p.String()
	}
	for _, f := range results.order {
		res.Rows = append(res.Rows, Row{Figure: f, Median: median(results.samples[f]), Samples: results.samples[f], Note: results.notes[f]})
	}
	for _, r := range ratios {
		n, d := results.samples[r.num], results.samples[r.den]
		if len(n) > 0 && len(d) > 0 && median(d) > 0 {
			res.Rows = append(res.Rows, Row{Figure: r.figure, Median: median(n) / median(d), Note: r.note})
		}
	}
	dir := os.Getenv("SMOLVM_BENCH_OUT")
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bench-results.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	var md strings.Builder
	fmt.Fprintf(&md, "# smolvm benchmark, %s\n\nHost %s; %s.\n\n", res.Date, res.Host, res.Probe)
	fmt.Fprintf(&md, "| figure | median | runs | samples | what |\n|---|---|---|---|---|\n")
	for _, r := range res.Rows {
		var ss []string
		for _, s := range r.Samples {
			ss = append(ss, fmt.Sprintf("%.4g", s))
		}
		fmt.Fprintf(&md, "| %s | %.4g | %d | %s | %s |\n", r.Figure, r.Median, len(r.Samples), strings.Join(ss, ", "), r.Note)
	}
	if err := os.WriteFile(filepath.Join(dir, "bench-results.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	fmt.Printf("\n%s\nwritten to %s/bench-results.{md,json}\n", md.String(), dir)
	return nil
}
