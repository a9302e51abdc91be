package image

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sentinel errors. Every error from a Reader that is caused by the file's
// contents matches exactly one of them with errors.Is; I/O errors from the
// underlying file are wrapped as they are.
var (
	// ErrNotImage means the file has no smolvm trailer: it is a plain
	// runtime, some other file, or an image cut short (the trailer is at
	// the end, so truncation removes it).
	ErrNotImage = errors.New("not a smolvm image")

	// ErrTruncated means the file is shorter than its trailer or table
	// says.
	ErrTruncated = errors.New("image truncated")

	// ErrCorrupt means a digest does not match or the trailer, table or a
	// part's data is malformed.
	ErrCorrupt = errors.New("image corrupt")

	// ErrVersion means the trailer is a smolvm trailer of a format version
	// this package does not read.
	ErrVersion = errors.New("unsupported image format version")

	// ErrNoPart means the image has no part of the requested name.
	ErrNoPart = errors.New("no such part")
)

// Error is the error returned by Reader and Writer methods. Its message names
// the file and the part, then says what is wrong, for example:
//
//	image app.vm: part "kernel": SHA-256 mismatch (file corrupted or modified): want ab12…, got cd34…
type Error struct {
	Path string // file name, if known
	Part string // part name, or "" if the problem is with the image as a whole
	Op   string // operation that failed, for programs: "open", "read part", "add part", ...
	Err  error  // what went wrong; matches a sentinel error for problems with the file
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("image")
	if e.Path != "" {
		b.WriteString(" " + e.Path)
	}
	b.WriteString(": ")
	if e.Part != "" {
		fmt.Fprintf(&b, "part %q: ", e.Part)
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// problem is a description of what is wrong with a file that also matches
// its sentinel (kind). The sentinel is not repeated in the message, which
// reads better as "SHA-256 mismatch …" than "image corrupt: SHA-256 mismatch …".
type problem struct {
	kind error
	err  error
}

func (p *problem) Error() string   { return p.err.Error() }
func (p *problem) Unwrap() []error { return []error{p.kind, p.err} }

// newProblem formats a problem of the given kind; %w in format wraps a cause.
func newProblem(kind error, format string, args ...any) error {
	return &problem{kind: kind, err: fmt.Errorf(format, args...)}
}

func corruptf(format string, args ...any) error { return newProblem(ErrCorrupt, format, args...) }

// maxQuote is how much of a value from a file a message quotes: the value
// can be anything, up to a megabyte, and the message must stay readable.
const maxQuote = 64

// quote quotes s for a message, cut short if long.
func quote(s string) string {
	if len(s) <= maxQuote {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:maxQuote]) + "…"
}

// shorten returns err, or if its message is long an error with the message
// cut short. encoding/json, for one, quotes unknown field names in full.
func shorten(err error) error {
	const max = 4 * maxQuote
	if msg := err.Error(); len(msg) > max {
		return errors.New(msg[:max] + "…")
	}
	return err
}
