package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// logBufferMax bounds the log lines waiting to be written: about 10,000
// access log lines, a second or two at full load.
const logBufferMax = 2 << 20

// logGather is how long the writing goroutine lets lines gather after each
// write before it takes the next ones. Woken for every line instead, it
// wrote about 1.5 lines per write under load: 15,000 write calls a second
// at 20,000 introspections a second (docs/benchmarks.md, eighth session).
// A line waits at most this long more; the first line after a quiet spell
// is written at once.
const logGather = time.Millisecond

// logWriter is serve's log output. A request appends its line to a buffer and
// goes on; a goroutine of its own writes whatever has gathered to the real
// output in one write, then lets lines gather for logGather, so at 20,000
// requests a second stderr takes about a thousand writes a second, not one per
// request, and no request ever waits for the terminal, the pipe or journald
// behind stderr. While that goroutine is blocked in a write, lines keep
// gathering up to logBufferMax; beyond it they are dropped, counted, and
// reported in a line of their own as soon as writing resumes: a stalled stderr
// must not stall the server or grow its memory without bound. Close writes
// every line still buffered; serve calls it last, so no line of a clean
// shutdown is lost.
type logWriter struct {
	w   io.Writer
	max int

	mu      sync.Mutex
	buf     []byte // lines not yet taken by the writing goroutine
	dropped int    // lines dropped since the last report
	closed  bool

	wake chan struct{} // one pending signal: there is something to write
	done chan struct{} // closed when the writing goroutine has finished
}

func newLogWriter(w io.Writer, max int) *logWriter {
	lw := &logWriter{w: w, max: max, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go lw.run()
	return lw
}

// Write takes a copy of p (slog reuses its buffer) and never blocks on
// the output. After Close it writes through.
func (lw *logWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	if lw.closed {
		lw.mu.Unlock()
		<-lw.done // the last batch is out first
		lw.mu.Lock()
		defer lw.mu.Unlock()
		return lw.w.Write(p)
	}
	if len(lw.buf)+len(p) > lw.max {
		lw.dropped++
	} else {
		lw.buf = append(lw.buf, p...)
	}
	lw.mu.Unlock()
	lw.signal()
	return len(p), nil
}

func (lw *logWriter) signal() {
	select {
	case lw.wake <- struct{}{}:
	default: // a signal is pending already
	}
}

// run writes the gathered lines until Close, swapping two buffers so that
// writers append to one while the other is written.
func (lw *logWriter) run() {
	defer close(lw.done)
	var out []byte
	notice := slog.New(slog.NewJSONHandler(lw.w, nil))
	for range lw.wake {
		lw.mu.Lock()
		out, lw.buf = lw.buf, out[:0]
		dropped, stop := lw.dropped, lw.closed
		lw.dropped = 0
		lw.mu.Unlock()
		if len(out) > 0 {
			_, _ = lw.w.Write(out) // a failing stderr has nowhere to report to
		}
		if dropped > 0 {
			notice.LogAttrs(context.Background(), slog.LevelWarn, "log lines dropped: the log output did not keep up",
				slog.Int("dropped", dropped))
		}
		if stop {
			return
		}
		if len(out) > 0 {
			time.Sleep(logGather)
		}
	}
}

// Close writes every buffered line and stops the writing goroutine; later
// lines are written directly.
func (lw *logWriter) Close() error {
	lw.mu.Lock()
	if lw.closed {
		lw.mu.Unlock()
		return nil
	}
	lw.closed = true
	lw.mu.Unlock()
	lw.signal()
	<-lw.done
	return nil
}
