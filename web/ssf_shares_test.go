package web_test

import (
	"net"
	"net/http"
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
