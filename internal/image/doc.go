// Package image reads and writes smolvm images: single executable files that
// carry everything needed to boot one microVM.
//
// # Layout
//
// A .vm file is the smolvm runtime binary with data appended to it:
//
//	+----------------------+  offset 0
//	| runtime (ELF)        |  the smolvm executable, unchanged
//	+----------------------+  RuntimeSize
//	| part 0 data          |  e.g. "kernel"
//	| part 1 data          |  e.g. "initramfs"
//	| ...                  |  e.g. "manifest"
//	+----------------------+  table offset
//	| table (JSON)         |  runtime size and SHA-256; name, offset, size,
//	|                      |  SHA-256, encoding, decoded size of each part
//	+----------------------+  file size - TrailerSize
//	| trailer (72 bytes)   |  magic, version, runtime size, table location, table SHA-256
//	+----------------------+  file size
//
// The trailer is fixed-size little-endian binary:
//
//	magic         [8]byte   Magic
//	version       uint32    FormatVersion
//	reserved      uint32    zero
//	runtime size  uint64    where part data begins
//	table offset  uint64
//	table size    uint64    at most MaxTableSize
//	table SHA-256 [32]byte
//
// # Why this shape
//
// The data is appended to the runtime so that the image is directly
// executable: the kernel's ELF loader maps only what the program headers
// describe and ignores whatever follows, so running app.vm starts the smolvm
// runtime, with no extraction step and no second file to ship.
//
// The trailer sits at the very end because that is the one place the runtime
// can find without knowing anything else: it opens its own executable, reads
// the last TrailerSize bytes (HasTrailer) and, if the magic is there, knows it
// is an image and where the table is. The runtime size recorded in the
// trailer lets a builder copy the bare runtime out of any image
// (Reader.Runtime) to build a new one.
//
// Every byte that is interpreted is covered by a digest: the trailer holds
// the SHA-256 of the table, and the table holds the SHA-256 of each part's
// stored bytes (and repeats the runtime size, so that field is covered too).
// A reader checks the table digest before parsing the table and a part's
// digest before decoding the part, so a flipped bit from a bad download or
// disk is refused with a clear error before anything boots, instead of
// surfacing as a mysterious kernel panic. The table also holds the runtime's
// SHA-256, which Reader.Verify checks; opening an image does not, as the
// runtime re-reading its own code at every boot would cost time for little. Digests do not make an
// image trustworthy (anyone can recompute them); they detect accidents.
// Sizes are capped (MaxTableSize, MaxParts, MaxPartSize) and every offset is
// checked against the file before use, so a hostile file cannot make the
// reader allocate without bound or read out of range.
//
// Parts may be stored raw, as an LZ4 frame, or as Blocks: independently
// LZ4-compressed blocks with an index of per-block SHA-256 digests (see
// blocks.go), which the table covers with index_sha256. A Blocks part is
// read at random offsets (OpenBlocks), each block checked as it is
// decoded: the root filesystem, served to the guest in place, is checked
// where and when the guest reads it instead of in full before every boot,
// which for a large root would cost the VMM's start-up tens of
// milliseconds and the whole root's I/O. A damaged block is never served.
// Writers are reproducible: the
// same runtime and parts, added in the same order, give byte-identical images
// (no timestamps, parts in insertion order, fixed compression settings).
//
// The Writer and Reader mirror archive/tar: NewWriter, AddPart, Close to
// build; Open or NewReader, then ReadPart or Manifest to read.
package image
