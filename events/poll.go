package events

import (
	"context"
	"time"

	"github.com/latchkey/latchkey/models"
)

// Poll limits (RFC 8936 §2.4 leaves them to the transmitter).
const (
	// LongPoll is how long a poll without returnImmediately waits for an
	// event: below the 30 s that proxies commonly allow an idle request,
	// and below the server's write timeout.
	LongPoll = 25 * time.Second
	// DefaultMaxEvents is maxEvents when the receiver gives none, and
	// MaxMaxEvents the most one poll returns.
	DefaultMaxEvents = 100
	MaxMaxEvents     = 1000
)

// PollResponse is RFC 8936 §2.5's response: SETs by jti.
type PollResponse struct {
	Sets          map[string]string `json:"sets"`
	MoreAvailable bool              `json:"moreAvailable"`
}

// Poll answers one RFC 8936 poll on stream: it acknowledges ack (SET jtis
// the receiver processed; those of setErrs are passed in too: the
// receiver refused them, and sending them again would not change that),
// then returns up to maxEvents unacknowledged SETs, oldest first. With
// wait > 0 and none pending it waits that long for one (long poll),
// woken when an event is queued in this process and looking every Recheck (200 ms)
// for other replicas' events. An unacknowledged SET is returned again by
// the next poll, with the same jti; an acknowledged one never again.
func (t *Transmitter) Poll(ctx context.Context, stream *models.Stream, maxEvents int, wait time.Duration, ack []string) (PollResponse, error) {
	out := PollResponse{Sets: map[string]string{}}
	if len(ack) > 0 {
		jtis := make([]string, 0, len(ack))
		for _, a := range ack {
			if j := EventJTI(a, stream.StreamID); j != "" {
				jtis = append(jtis, j)
			}
		}
		n, err := t.st.AckEvents(ctx, stream.StreamID, jtis)
		if err != nil {
			return out, err
		}
		t.stats.acknowledged(stream.StreamID, n)
	}
	if maxEvents == 0 {
		return out, nil // RFC 8936 §2.4: an acknowledgement only
	}
	var deadline <-chan time.Time
	if wait > 0 {
		timer := time.NewTimer(wait)
		defer timer.Stop()
		deadline = timer.C
	}
	for {
		wake := t.st.EventsQueued()
		pending, more, err := t.st.PollEvents(ctx, stream.StreamID, maxEvents)
		if err != nil {
			return out, err
		}
		if len(pending) > 0 || deadline == nil {
			return t.signAll(ctx, stream, pending, more)
		}
		tick := time.NewTimer(Recheck)
		select {
		case <-wake:
		case <-tick.C:
		case <-deadline:
			deadline = nil // one last look, then answer
		case <-ctx.Done():
			tick.Stop()
			return out, ctx.Err()
		case <-t.stop:
			deadline = nil // the server is shutting down: answer now
		}
		tick.Stop()
	}
}

func (t *Transmitter) signAll(ctx context.Context, stream *models.Stream, pending []models.PendingEvent, more bool) (PollResponse, error) {
	out := PollResponse{Sets: make(map[string]string, len(pending)), MoreAvailable: more}
	if len(pending) == 0 {
		return out, nil
	}
	signer, err := t.keys.Signer(ctx)
	if err != nil {
		return out, err
	}
	for i := range pending {
		e := &pending[i].Event
		set, err := t.sign(signer, stream, e)
		if err != nil {
			return out, err
		}
		out.Sets[SETID(e.JTI, stream.StreamID)] = set
	}
	return out, nil
}

// StopPolls ends the long polls waiting now and those to come, which
// answer at once with what they have: the server is shutting down.
func (t *Transmitter) StopPolls() {
	t.stopOnce.Do(func() { close(t.stop) })
}
