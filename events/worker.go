package events

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/latchkey/latchkey/models"
)

// WorkerOptions tune the push worker. The zero value is the production
// setting.
type WorkerOptions struct {
	// InitialBackoff is the wait after a first failed push; each further
	// failure doubles it, up to MaxBackoff. Zero: InitialBackoff (1 s).
	// Tests shorten it; the schedule's shape stays the same.
	InitialBackoff time.Duration
	// PollInterval is how often the worker looks for work it was not woken
	// for: events queued by another replica, and retries coming due. Zero:
	// Recheck (200 ms).
	PollInterval time.Duration
	// PushTimeout bounds one push request. Zero: ten seconds.
	PushTimeout time.Duration
	// Gather is how long the worker, once woken by a commit (or by the end
	// of a stream's last batch), waits for more events before it looks:
	// under load the events of several commits then go out as one batch,
	// for one read of the queue and one write recording it, instead of one
	// each per commit. It adds at most that much to a delivery's latency.
	// Zero: DefaultGather; negative: none.
	Gather time.Duration
	// Log receives delivery failures; nil discards them.
	Log *slog.Logger
	// OnDelivered, when set, is told of every push answered 202 and its
	// latency from the event's commit (`latchkey bench` collects them).
	OnDelivered func(streamID string, latency time.Duration)
}

// batchSize is how many pending events a stream's delivery reads at once,
// and at most how many deliveries one MarkDelivered records. Under load,
// recording a batch waits for a group commit (tens of milliseconds), so
// batches are large; after a crash at most one batch that was accepted
// but not yet recorded goes out again (same jtis: receivers drop
// duplicates).
const batchSize = 256

// Worker pushes SETs to the push streams (RFC 8935). One runs per replica
// (started by `latchkey serve` beside the server). It is woken in-process
// when a revocation that queued events commits, and otherwise looks every
// PollInterval. Each stream is delivered by one goroutine at a time, under
// models.ClaimStream, so that on PostgreSQL with several replicas a
// stream's events go out once and in order. The head event of a stream
// blocks the rest: after a failure nothing on that stream goes out before
// the head's next attempt, due after Backoff.
type Worker struct {
	t      *Transmitter
	opts   WorkerOptions
	pusher *Pusher
	log    *slog.Logger

	mu      sync.Mutex
	running map[string]bool
	kick    chan struct{} // a stream's goroutine ended: look again
	// slots bounds the streams being delivered at once: each claim holds
	// a database connection on PostgreSQL (models.MaxConcurrentClaims).
	slots    chan struct{}
	deferred bool // a due stream waited for a slot: look again when one frees

	// The shares of the slots (see shares): how many streams of each
	// receiver are being delivered, and how many retrying a failed event.
	perOwner map[int64]int
	retrying int
}

// shares returns, for a worker of n slots, how many of them one receiver's
// streams may hold at once, and how many the streams retrying a failed
// event may. A push may take PushTimeout (10 s) to fail, and one receiver
// may own several streams (models.MaxStreamsPerClient): without these
// shares, a receiver whose endpoints hang (a host gone from the network,
// or a hostile one) would hold every slot, and every other receiver's
// events would wait for its timeouts, far past the second they must
// arrive in. With them, a receiver holds at most a quarter of the slots,
// and streams in trouble half: a stream whose head has never failed always
// finds one free unless many receivers hang at their first push at once.
func shares(n int) (perOwner, retrying int) {
	return max(1, n/4), max(1, n/2)
}

// NewWorker returns a push worker for t.
func NewWorker(t *Transmitter, opts WorkerOptions) *Worker {
	if opts.InitialBackoff <= 0 {
		opts.InitialBackoff = InitialBackoff
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = Recheck
	}
	if opts.Gather == 0 {
		opts.Gather = DefaultGather
	}
	if opts.PushTimeout <= 0 {
		opts.PushTimeout = 10 * time.Second
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Worker{t: t, opts: opts, pusher: NewPusher(opts.PushTimeout, t.AllowPrivatePush), log: log,
		running: map[string]bool{}, kick: make(chan struct{}, 1), slots: make(chan struct{}, min(maxConcurrentStreams, t.st.MaxConcurrentClaims())),
		perOwner: map[int64]int{}}
}

// Run delivers until ctx ends, then waits for the deliveries in flight
// (each ends with ctx) and returns.
func (w *Worker) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	st := w.t.st
	for {
		// Take the wake-up channel before looking, so that an event
		// committed while we look still wakes us.
		wake := st.EventsQueued()
		next := w.opts.PollInterval
		due, err := st.PushStreamsDue(ctx)
		if err != nil && ctx.Err() == nil {
			w.log.Warn("event delivery: cannot list streams", "err", err)
		}
		now := st.Now()
		for _, d := range due {
			if wait := d.HeadDueAt.Sub(now); wait > 0 {
				next = min(next, wait)
				continue
			}
			w.start(ctx, &wg, d)
		}
		timer := time.NewTimer(next)
		woken := true
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-wake:
		case <-w.kick:
		case <-timer.C:
			woken = false
		}
		timer.Stop()
		if woken && w.opts.Gather > 0 {
			pause(ctx, w.opts.Gather)
		}
	}
}

// DefaultGather is WorkerOptions.Gather's default: a small share of the
// second within which a revocation should reach its receivers.
const DefaultGather = 20 * time.Millisecond

// pause waits for d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// start delivers a stream in a goroutine of its own, unless one of this
// worker's already does, or as many streams as it may deliver at once are
// being delivered, or the stream's receiver or the retrying streams hold
// their share of them (shares). The stream is then started on a later
// look: the goroutine that ends kicks the loop.
func (w *Worker) start(ctx context.Context, wg *sync.WaitGroup, d models.StreamDue) {
	streamID, retry := d.StreamID, d.HeadAttempts > 0
	ownerShare, retryShare := shares(cap(w.slots))
	w.mu.Lock()
	if w.running[streamID] {
		w.mu.Unlock()
		return
	}
	if w.perOwner[d.Owner] >= ownerShare || (retry && w.retrying >= retryShare) {
		w.deferred = true
		w.mu.Unlock()
		return
	}
	select {
	case w.slots <- struct{}{}:
	default:
		w.deferred = true
		w.mu.Unlock()
		return
	}
	w.running[streamID] = true
	w.perOwner[d.Owner]++
	if retry {
		w.retrying++
	}
	w.mu.Unlock()
	wg.Go(func() {
		claimed, err := w.t.st.ClaimStream(ctx, streamID, func(ctx context.Context) error { return w.drain(ctx, streamID) })
		w.mu.Lock()
		delete(w.running, streamID)
		if w.perOwner[d.Owner]--; w.perOwner[d.Owner] == 0 {
			delete(w.perOwner, d.Owner)
		}
		if retry {
			w.retrying--
		}
		<-w.slots
		deferred := w.deferred
		w.deferred = false
		w.mu.Unlock()
		if err != nil && ctx.Err() == nil && !errors.Is(err, models.ErrNotFound) {
			w.log.Warn("event delivery failed", "stream_id", streamID, "err", err)
		}
		if (claimed && err == nil) || deferred {
			// Events may have come while the last batch went out: look
			// again now. Not after a failure, nor when another replica
			// holds the stream: the next regular look is soon enough, and
			// looking at once would spin. But a stream left waiting for
			// a slot gets this one now.
			select {
			case w.kick <- struct{}{}:
			default:
			}
		}
	})
}

// drain pushes a stream's due events in order until none is left, one is
// refused, or the stream stops being an enabled push stream.
func (w *Worker) drain(ctx context.Context, streamID string) error {
	st := w.t.st
	for ctx.Err() == nil {
		stream, err := st.StreamByID(ctx, models.AnyOwner, streamID)
		if err != nil {
			return err
		}
		if stream.Status != models.StreamEnabled || stream.Method != models.DeliveryPush {
			return nil // paused: held; disabled or deleted: dropped by models
		}
		pending, err := st.PendingEvents(ctx, streamID, batchSize)
		if err != nil || len(pending) == 0 {
			return err
		}
		signer, err := w.t.keys.Signer(ctx)
		if err != nil {
			return err
		}
		more, err := w.pushBatch(ctx, signer, stream, pending)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// pushBatch pushes pending (oldest first) until one is not yet due or is
// refused, records what was accepted in one write, and reports whether the
// stream may have more to deliver now. A goroutine signs the SETs ahead of
// the pushes, so that signing one overlaps the round trip of the one
// before.
func (w *Worker) pushBatch(ctx context.Context, signer *Signer, stream *models.Stream, pending []models.PendingEvent) (bool, error) {
	st := w.t.st
	if pending[0].NextAttemptAt.After(st.Now()) {
		return false, nil // the head waits for its retry, and the rest behind it
	}
	sctx, stopSigning := context.WithCancel(ctx)
	defer stopSigning()
	type signed struct {
		set string
		err error
	}
	sets := make(chan signed, len(pending)) // never blocks the signer
	go func() {
		defer close(sets)
		for i := range pending {
			if sctx.Err() != nil {
				return
			}
			set, err := w.t.sign(signer, stream, &pending[i].Event)
			sets <- signed{set, err}
		}
	}()

	// The endpoint is prepared once for the batch; one that cannot be is
	// each push's failure, retried with backoff as any other.
	ep, epErr := NewEndpoint(stream.EndpointURL, stream.AuthorizationHeader)
	var delivered []int64
	record := func() error {
		if len(delivered) == 0 {
			return nil
		}
		// Not ctx: a 202 received must be recorded even during shutdown,
		// or the SET goes out again after the restart.
		return st.MarkDelivered(context.WithoutCancel(ctx), stream.StreamID, delivered...)
	}
	i := 0
	for s := range sets {
		p := &pending[i]
		i++
		if s.err != nil {
			return false, errors.Join(s.err, record())
		}
		perr := epErr
		if perr == nil {
			perr = w.pusher.PushTo(ctx, ep, s.set)
		}
		if perr == nil {
			delivered = append(delivered, p.DeliveryID)
			latency := time.Since(p.Event.CreatedAt)
			w.t.stats.delivered(stream.StreamID, latency)
			if w.opts.OnDelivered != nil {
				w.opts.OnDelivered(stream.StreamID, latency)
			}
			continue
		}
		if ctx.Err() != nil {
			return false, record() // shutting down: not the receiver's failure
		}
		w.t.stats.failed(stream.StreamID)
		next := st.Now().Add(Backoff(w.opts.InitialBackoff, p.Attempts+1))
		w.log.Info("push refused; will retry", "stream_id", stream.StreamID, "attempt", p.Attempts+1,
			"retry_at", next, "err", perr.Error())
		if err := record(); err != nil {
			return false, err
		}
		return false, st.MarkFailed(context.WithoutCancel(ctx), stream.StreamID, p.DeliveryID, next, perr.Error())
	}
	return len(pending) == batchSize && ctx.Err() == nil, record()
}
