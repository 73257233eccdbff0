// Package file provides the relay's file sink: it appends every batch to
// one file with one write, in the order the relay flushed the batches, and
// settles a batch once the write (and, with Config.Fsync, the fsync)
// returned.
//
// # Guarantees
//
// A batch is acknowledged (relay.Feed.Settle) after write(2) returned for
// all of it and, with Fsync, after fsync(2) of the file returned; with
// Fsync the directory is also fsynced after the sink created or renamed a
// file, so an acknowledged batch survives a crash of the machine. Without
// Fsync an acknowledged batch is in the page cache: it survives the
// relay's crash, not the machine's.
//
// A failed open, write, fsync or rotation is counted (Feed.Failed),
// logged, and retried with the relay's backoff (Feed.Backoff), as long as
// it takes: nothing is dropped, and while the file fails the relay's
// pending limit stops it reading from its clients. A failed write or fsync
// may have left part of the batch in the file; before the batch is
// written again the file is truncated back to the size it had before the
// batch, so a retry neither duplicates nor corrupts lines. The file must be
// the sink's alone: another writer's bytes appended after a failed batch
// would be cut off by that truncation.
//
// Before each batch the sink checks that the path still names the file it
// has open (stat and fstat); when it does not (the file was moved away or
// deleted, its directory removed) it opens the path anew, creating the
// file (and waiting, with retries, for the directory to come back). Reopen
// (the relay wires SIGHUP to it) forces that reopen between batches.
//
// # Rotation
//
// With Config.MaxBytes, before a batch that would take the file past
// MaxBytes the file is renamed Path.1 (Path.1 to Path.2 and so on up to
// Path.Keep, the oldest deleted) and a new file is created. A batch is
// never split: a batch larger than MaxBytes gets a file of its own.
//
// Batches are written by one goroutine in seq order; the relay's
// Policy.Concurrency does not apply. Policy.SendTimeout does not apply
// either: a write to a hung file system blocks the sink, and Run returns
// after the relay's hard stop only when that write returns.
package file

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/logrelay/logrelay/internal/relay"
)

// Format is how the sink writes a message.
type Format int

const (
	// Lines writes each message as it was received, followed by '\n': a
	// batch's payload as it is.
	Lines Format = iota
	// JSON writes one NDJSON document a message: the _bulk sink's document
	// (wire.BulkEncoder), a JSON-object line as it is plus "@timestamp"
	// unless present, any other line as {"@timestamp":"…","message":"…"}.
	JSON
)

// String returns the format's name, as ParseFormat takes it.
func (f Format) String() string {
	switch f {
	case Lines:
		return "lines"
	case JSON:
		return "json"
	}
	return "Format(" + strconv.Itoa(int(f)) + ")"
}

// ParseFormat returns the format named s: "lines" or "json".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "lines":
		return Lines, nil
	case "json":
		return JSON, nil
	}
	return 0, fmt.Errorf("%w: format %q: want lines or json", ErrConfig, s)
}

// ParseMode returns the permission bits written in octal in s (0644, 600).
func ParseMode(s string) (os.FileMode, error) {
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o777 {
		return 0, fmt.Errorf("%w: mode %q: want octal permission bits, e.g. 0644", ErrConfig, s)
	}
	return os.FileMode(m), nil
}

// DefaultMode is the permission of the files the sink creates when
// Config.Mode is zero.
const DefaultMode os.FileMode = 0o644

// Config configures a Sink.
type Config struct {
	// Path is the file, an absolute path. Its directory need not exist at
	// start: the sink retries until it can create the file.
	Path string
	// Format is how messages are written (Lines by default).
	Format Format
	// Fsync makes the sink fsync the file after each batch, and its
	// directory after it created or renamed a file, before the batch is
	// acknowledged.
	Fsync bool
	// MaxBytes rotates the file before a batch that would take it past
	// this many bytes; 0 never rotates.
	MaxBytes int64
	// Keep is how many rotated files (Path.1 … Path.Keep) are kept; 0
	// keeps none (rotation deletes the full file).
	Keep int
	// Mode is the permission of the files the sink creates, before the
	// umask; 0 means DefaultMode.
	Mode os.FileMode
}

// Sink is the file sink. Its Run writes batches; Reopen may be called from
// any goroutine; it is a prometheus.Collector of its own metrics.
type Sink struct {
	cfg    Config
	dir    string
	reopen chan struct{} // a token: reopen the path between batches
	m      *metrics
	fsync  func(*os.File) error // (*os.File).Sync; tests make it fail
}

// New returns a sink writing to cfg.Path. It only checks cfg: the file
// is opened by Run.
func New(cfg Config) (*Sink, error) {
	switch {
	case cfg.Path == "" || !filepath.IsAbs(cfg.Path):
		return nil, fmt.Errorf("%w: path %q: want an absolute path", ErrConfig, cfg.Path)
	case filepath.Clean(cfg.Path) != cfg.Path || cfg.Path == "/":
		return nil, fmt.Errorf("%w: path %q: want a clean path to a file (%s)", ErrConfig, cfg.Path, filepath.Clean(cfg.Path))
	case cfg.Format != Lines && cfg.Format != JSON:
		return nil, fmt.Errorf("%w: format %v", ErrConfig, cfg.Format)
	case cfg.MaxBytes < 0:
		return nil, fmt.Errorf("%w: max bytes %d: want 0 (no rotation) or more", ErrConfig, cfg.MaxBytes)
	case cfg.Keep < 0:
		return nil, fmt.Errorf("%w: keep %d: want 0 or more", ErrConfig, cfg.Keep)
	case cfg.Mode&^os.ModePerm != 0:
		return nil, fmt.Errorf("%w: mode %v: want permission bits only", ErrConfig, cfg.Mode)
	}
	if cfg.Mode == 0 {
		cfg.Mode = DefaultMode
	}
	return &Sink{cfg: cfg, dir: filepath.Dir(cfg.Path), reopen: make(chan struct{}, 1), m: newMetrics(), fsync: (*os.File).Sync}, nil
}

// String names the sink: its file URL.
func (s *Sink) String() string { return (&url.URL{Scheme: "file", Path: s.cfg.Path}).String() }

// Reopen asks the sink to close its file and open the path anew before
// the next batch, or at once when it is idle or waiting to retry: what
// logrotate's SIGHUP after moving the file away means. It does not block.
func (s *Sink) Reopen() {
	select {
	case s.reopen <- struct{}{}:
	default:
	}
}

// Run writes the batches f hands out, one at a time in seq order; see
// relay.Sink.
func (s *Sink) Run(ctx context.Context, f *relay.Feed) error {
	w := newWriter(s, f)
	defer w.closeFile()
	var batches []*relay.Batch
	for {
		var closed bool
		batches, closed = f.TakeAll(batches[:0])
		err := w.deliver(ctx, batches)
		clear(batches)
		if err != nil {
			return err
		}
		if closed {
			return nil
		}
		select {
		case <-f.Flushed():
		case <-s.reopen:
			w.reopenNow()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// writer is Run's state: the open file and what the sink knows of it.
type writer struct {
	s    *Sink
	feed *relay.Feed
	log  *slog.Logger
	enc  encoder

	f       *os.File
	regular bool  // f is a regular file: it can be truncated, synced, rotated
	size    int64 // f's size, from fstat before each batch
	dev     uint64
	ino     uint64
	// dirty is -1, or the size to truncate f back to before anything more
	// is written: a failed write or fsync may have left part of a batch
	// past it.
	dirty     int64
	reopenReq bool // a Reopen is due before the next write
	st        syscall.Stat_t

	failing     bool      // the last attempt failed
	failures    int       // attempts failed in this streak
	failedSince time.Time // the streak's first failure
	lastWarn    time.Time
}

func newWriter(s *Sink, f *relay.Feed) *writer {
	return &writer{s: s, feed: f, log: f.Logger().With("sink", s.String()), enc: newEncoder(s.cfg.Format), dirty: -1}
}

// warnEvery is how often a streak of failures is logged after its first.
const warnEvery = 10 * time.Second

// deliver writes bs in order until all are written, settling them as it
// goes; it returns ctx.Err() when ctx is done first, leaving the rest
// unsettled.
func (w *writer) deliver(ctx context.Context, bs []*relay.Batch) error {
	for len(bs) > 0 {
		n, err := w.writeGroup(bs)
		bs = bs[n:]
		if err == nil {
			w.recovered()
			continue
		}
		w.feed.Failed()
		w.failed(err, bs[0])
		t := w.feed.Clock().NewTimer(w.feed.Backoff(w.failures))
		select {
		case <-t.C():
		case <-w.s.reopen:
			t.Stop()
			w.reopenReq = true
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	return nil
}

// failed logs a failure: the first of a streak at once, then one line per
// warnEvery.
func (w *writer) failed(err error, b *relay.Batch) {
	now := w.feed.Clock().Now()
	w.failures++
	if !w.failing {
		w.failing, w.failedSince, w.lastWarn = true, now, now
		w.log.Warn("file write failed; retrying the batch, reading from clients stops at --max-pending",
			"seq", b.Header().Seq, "error", err)
		return
	}
	if now.Sub(w.lastWarn) >= warnEvery {
		w.lastWarn = now
		w.log.Warn("file still failing; retrying", "seq", b.Header().Seq, "failures", w.failures,
			"since", w.failedSince, "error", err)
	}
}

func (w *writer) recovered() {
	if w.failing {
		w.log.Info("file writable again", "failures", w.failures,
			"after", w.feed.Clock().Now().Sub(w.failedSince).Round(time.Millisecond))
	}
	w.failing, w.failures = false, 0
}

// writeGroup makes one attempt at appending bs: undo a failed attempt's
// leftovers, (re)open the path if needed, then write each batch with one
// write, rotating before a batch that would not fit. With Fsync, the
// batches written since the last fsync are settled after one fsync: before
// a rotation and after the last batch (group commit); without, each batch
// is settled after its write. It returns how many batches it settled; on
// an error the file is marked to be truncated back to the end of the last
// settled batch, so the retry rewrites exactly the unsettled ones. A write
// that fails settles the whole batches before it first.
func (w *writer) writeGroup(bs []*relay.Batch) (settled int, err error) {
	if err := w.undo(); err != nil {
		return 0, err
	}
	if err := w.ensureOpen(); err != nil {
		return 0, err
	}
	sync := w.s.cfg.Fsync && w.regular
	start := w.size // the end of the settled data
	settle := func(upTo int) error {
		if sync && upTo > settled {
			if err := w.sync(); err != nil {
				return err
			}
		}
		for _, b := range bs[settled:upTo] {
			w.feed.Settle(b, relay.Outcome{})
		}
		w.s.m.bytes.Add(uint64(w.size - start))
		w.s.m.size.Store(w.size)
		settled, start = upTo, w.size
		return nil
	}
	// fail marks every unsettled byte for truncation.
	fail := func(err error) (int, error) {
		if w.regular && w.f != nil && (w.size != start || w.dirty >= 0) {
			w.dirty = start
		}
		return settled, err
	}
	for i, b := range bs {
		data := w.enc.encode(b)
		w.feed.Attempt(b)
		if limit := w.s.cfg.MaxBytes; limit > 0 && w.regular && w.size > 0 && w.size+int64(len(data)) > limit {
			if err := settle(i); err != nil {
				return fail(err)
			}
			if err := w.rotate(); err != nil {
				return settled, err
			}
			start = w.size
		}
		n, err := w.f.Write(data)
		if err != nil {
			// The batches before this one are whole: settle them (after
			// an fsync) and mark this one's part for truncation.
			w.s.m.errors[opWrite].Add(1)
			err = fmt.Errorf("write %d bytes to %s (%d written): %w", len(data), w.s.cfg.Path, n, err)
			if n > 0 && w.regular {
				w.dirty = w.size
			}
			if serr := settle(i); serr != nil {
				return fail(errors.Join(err, serr))
			}
			return settled, err
		}
		w.size += int64(n)
		if !sync {
			settle(i + 1)
		}
	}
	if err := settle(len(bs)); err != nil {
		return fail(err)
	}
	return settled, nil
}

// sync fsyncs the file.
func (w *writer) sync() error {
	t0 := time.Now()
	err := w.s.fsync(w.f)
	w.s.m.fsyncSeconds.Observe(time.Since(t0).Seconds())
	w.s.m.fsyncs.Add(1)
	if err != nil {
		w.s.m.errors[opFsync].Add(1)
		return fmt.Errorf("fsync %s: %w", w.s.cfg.Path, err)
	}
	return nil
}

// undo truncates the file back to where the failed batch began.
func (w *writer) undo() error {
	if w.dirty < 0 || w.f == nil {
		w.dirty = -1
		return nil
	}
	if err := w.f.Truncate(w.dirty); err != nil {
		w.s.m.errors[opTruncate].Add(1)
		return fmt.Errorf("truncate %s back to %d bytes after a failed write: %w", w.s.cfg.Path, w.dirty, err)
	}
	w.size, w.dirty = w.dirty, -1
	return nil
}

// ensureOpen leaves w.f open on the file the path names now, with w.size
// its size.
func (w *writer) ensureOpen() error {
	reason := -1
	switch {
	case w.reopenReq:
		reason = reopenSignal
	case w.f != nil && !w.samePath():
		reason = reopenPath
	case w.f != nil:
		return nil
	}
	if reason >= 0 {
		w.s.m.reopens[reason].Add(1)
		w.log.Info("reopening the file", "reason", reopenReasons[reason])
	}
	w.reopenReq = false
	w.closeFile()
	return w.open()
}

// samePath reports whether the path still names w.f, and sets w.size.
func (w *writer) samePath() bool {
	if err := syscall.Fstat(int(w.f.Fd()), &w.st); err != nil {
		return false
	}
	w.size = w.st.Size
	if err := syscall.Stat(w.s.cfg.Path, &w.st); err != nil {
		return false
	}
	return uint64(w.st.Dev) == w.dev && uint64(w.st.Ino) == w.ino
}

// reopenNow handles a Reopen while the sink is idle: it closes the file
// and opens the path anew; a failure is logged and left to the next batch.
func (w *writer) reopenNow() {
	w.reopenReq = true
	if err := w.undo(); err != nil {
		return
	}
	if err := w.ensureOpen(); err != nil {
		w.log.Warn("reopen failed; retrying with the next batch", "error", err)
	}
}

// open opens (creating) the path for appending.
func (w *writer) open() error {
	f, err := os.OpenFile(w.s.cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, w.s.cfg.Mode)
	if err != nil {
		w.s.m.errors[opOpen].Add(1)
		return fmt.Errorf("open: %w", err)
	}
	if err := syscall.Fstat(int(f.Fd()), &w.st); err != nil {
		f.Close()
		w.s.m.errors[opOpen].Add(1)
		return fmt.Errorf("stat %s: %w", w.s.cfg.Path, err)
	}
	w.regular = w.st.Mode&syscall.S_IFMT == syscall.S_IFREG
	w.size, w.dev, w.ino = w.st.Size, uint64(w.st.Dev), uint64(w.st.Ino)
	if w.s.cfg.Fsync && w.regular {
		if err := w.syncDir(); err != nil {
			f.Close()
			return err
		}
	}
	w.f = f
	w.s.m.size.Store(w.size)
	return nil
}

// syncDir fsyncs the file's directory, so a created or renamed entry
// survives a crash.
func (w *writer) syncDir() error {
	d, err := os.Open(w.s.dir)
	if err == nil {
		err = d.Sync()
		d.Close()
	}
	if err != nil {
		w.s.m.errors[opFsync].Add(1)
		return fmt.Errorf("fsync directory: %w", err)
	}
	return nil
}

func (w *writer) closeFile() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
}

// rotate renames the full file away (Path → Path.1 → … → Path.Keep) and
// opens a new one. Each attempt shifts only the files below the first free
// slot, so a rotation that failed half-way and is retried continues where
// it stopped and never overwrites a rotated file with another.
func (w *writer) rotate() error {
	p, keep := w.s.cfg.Path, w.s.cfg.Keep
	name := func(i int) string { return p + "." + strconv.Itoa(i) }
	fail := func(err error) error {
		w.s.m.errors[opRotate].Add(1)
		return fmt.Errorf("rotate %s: %w", p, err)
	}
	if keep == 0 {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fail(err)
		}
	} else {
		free := keep
		for i := 1; i < keep; i++ {
			if _, err := os.Lstat(name(i)); errors.Is(err, os.ErrNotExist) {
				free = i
				break
			}
		}
		if err := os.Remove(name(free)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fail(err)
		}
		for i := free - 1; i >= 1; i-- {
			if err := os.Rename(name(i), name(i+1)); err != nil {
				return fail(err)
			}
		}
		if err := os.Rename(p, name(1)); err != nil {
			return fail(err)
		}
	}
	w.closeFile()
	w.s.m.rotations.Add(1)
	if w.s.cfg.Fsync {
		if err := w.syncDir(); err != nil {
			return err
		}
	}
	return w.open()
}
