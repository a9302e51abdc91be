// Package progress shows how far a long build step (pulling layers,
// writing the image) has got, as one line rewritten in place on a
// terminal. When its output is not a terminal it prints nothing, so logs
// and pipes only ever see the build's real messages.
//
// A nil *Reporter is valid and silent: libraries take one as an option
// and never have to check.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// interval throttles redraws: faster is unreadable and costs syscalls.
const interval = 100 * time.Millisecond

// Reporter draws progress lines on a terminal.
type Reporter struct {
	mu   sync.Mutex // guards w and last
	w    io.Writer
	last time.Time
}

// New returns a Reporter writing to f, or nil (silent) when f is not a
// terminal.
func New(f *os.File) *Reporter {
	if f == nil || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return &Reporter{w: f}
}

// Reader returns r, counting what is read through it and showing
// "label: read / total" (total ≤ 0 when unknown). Call Done when the
// step ends.
func (p *Reporter) Reader(label string, total int64, r io.Reader) io.Reader {
	if p == nil {
		return r
	}
	return &counter{p: p, label: label, total: total, r: r}
}

// Writer is Reader for a stream being written.
func (p *Reporter) Writer(label string, total int64, w io.Writer) io.Writer {
	if p == nil {
		return w
	}
	return &counter{p: p, label: label, total: total, w: w}
}

// Done ends the current line with a final message.
func (p *Reporter) Done(format string, args ...any) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\r\033[K"+format+"\n", args...)
}

func (p *Reporter) draw(label string, n, total int64, force bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if now := time.Now(); force || now.Sub(p.last) >= interval {
		p.last = now
		if total > 0 {
			fmt.Fprintf(p.w, "\r\033[K%s: %s / %s", label, mb(n), mb(total))
		} else {
			fmt.Fprintf(p.w, "\r\033[K%s: %s", label, mb(n))
		}
	}
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

type counter struct {
	p     *Reporter
	label string
	total int64
	n     int64
	r     io.Reader
	w     io.Writer
}

func (c *counter) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	c.p.draw(c.label, c.n, c.total, err != nil)
	return n, err
}

func (c *counter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	c.p.draw(c.label, c.n, c.total, false)
	return n, err
}
