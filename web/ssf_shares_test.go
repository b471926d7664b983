package web_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/events"
	"github.com/latchkey/latchkey/events/eventstest"
)

// TestHangingReceiverDoesNotDelayOthers: a receiver whose push endpoints
// accept the connection and never answer (a host gone from the network,
// or a hostile one) may own several streams; each push to them takes the
// whole push timeout (10 s) to fail. The worker delivers a few streams at
// once, and that receiver must not hold all of them: another receiver's
// event still arrives within the second SPEC gives it.
func TestHangingReceiverDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	es := newEventServer(t)
	rcv := eventstest.NewReceiver(t, es.URL)
	es.pushStream(t, rcv)

	// A tarpit: it accepts connections and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var accepted atomic.Int32
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			held = append(held, c)
		}
	}()
	_, hanging := es.newReceiverClient(t, "Hanging Receiver")
	for range 8 {
		status, raw, _ := es.call(t, "POST", "/ssf/stream", hanging, map[string]any{
			"delivery": map[string]string{"method": events.DeliveryPush, "endpoint_url": "http://" + ln.Addr().String() + "/events"},
		})
		if status != http.StatusCreated {
			t.Fatalf("create: %d %s", status, raw)
		}
	}

	for i, user := range []string{"alice", "bob"} {
		tok := es.passwordToken(t, user)
		sid := es.sid(t, tok)
		start := time.Now()
		es.revokeAtEndpoint(t, tok)
		rcv.WaitSession(t, 15*time.Second, sid)
		if d := time.Since(start); d > time.Second {
			t.Errorf("revocation %d reached the other receiver %v after its 200, want under 1 s", i+1, d.Round(10*time.Millisecond))
		}
		time.Sleep(300 * time.Millisecond)
	}
	// The hanging receiver's eight streams were pushed to two at a time.
	if n := accepted.Load(); n == 0 || n > 2 {
		t.Errorf("%d connections reached the hanging receiver, want 1 or 2: its share is a quarter of the worker's 8 slots", n)
	}
}

// TestRetryingStreamsHoldHalfTheSlots: streams retrying a failed push (a
// receiver gone, each push waiting out its timeout) take at most half the
// worker's slots together, whoever owns them, so that a stream whose head
// has never failed finds one free. Six receivers, one stream each, to an
// endpoint that never answers, pushes timing out after 300 ms: after the
// first round, at most four pushes are open at once.
func TestRetryingStreamsHoldHalfTheSlots(t *testing.T) {
	t.Parallel()
	es := newEventServerOpts(t, false, true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		events.NewWorker(es.tx, events.WorkerOptions{InitialBackoff: 20 * time.Millisecond, PollInterval: 20 * time.Millisecond,
			PushTimeout: 300 * time.Millisecond}).Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var open, peak atomic.Int32
	var measuring atomic.Bool
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if n := open.Add(1); measuring.Load() && n > peak.Load() {
				peak.Store(n)
			}
			go func() { // never answers; counts the push as open until the pusher gives up
				_, _ = io.Copy(io.Discard, c)
				c.Close()
				open.Add(-1)
			}()
		}
	}()
	for i := range 6 {
		_, bearer := es.newReceiverClient(t, "Gone "+strconv.Itoa(i))
		status, raw, _ := es.call(t, "POST", "/ssf/stream", bearer, map[string]any{
			"delivery": map[string]string{"method": events.DeliveryPush, "endpoint_url": "http://" + ln.Addr().String() + "/events"},
		})
		if status != http.StatusCreated {
			t.Fatalf("create: %d %s", status, raw)
		}
	}
	tok := es.passwordToken(t, "alice")
	es.revokeAtEndpoint(t, tok)
	time.Sleep(500 * time.Millisecond) // the first round (six fresh pushes) has timed out
	measuring.Store(true)
	time.Sleep(1500 * time.Millisecond)
	if p := peak.Load(); p == 0 || p > 4 {
		t.Errorf("at most %d retrying pushes open at once, want 1 to 4: half the worker's 8 slots", p)
	}
}
