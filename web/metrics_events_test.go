package web_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/latchkey/latchkey/events/eventstest"
)

// TestEventMetrics delivers a SET to a receiver that first answers 503:
// /metrics shows the failure, the delivery, its latency and the backlog
// per stream.
func TestEventMetrics(t *testing.T) {
	t.Parallel()
	es := newEventServer(t)
	rcv := eventstest.NewReceiver(t, es.URL)
	s := es.pushStream(t, rcv)
	stream := "stream=" + s.StreamID
	rcv.SetStatus(http.StatusServiceUnavailable)
	es.call(t, "POST", "/ssf/verify", es.bearer, map[string]any{"stream_id": s.StreamID, "state": "m"})
	for deadline := time.Now().Add(5 * time.Second); len(rcv.Tries()) == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	fams := scrape(t, es.Client(), es.URL+"/metrics")
	if got := value(t, fams, "latchkey_event_backlog", stream); got != 1 {
		t.Errorf("backlog while failing: %v, want 1", got)
	}
	if got := value(t, fams, "latchkey_event_deliveries_total", stream, "result=failed"); got < 1 {
		t.Errorf("failed deliveries: %v, want at least 1", got)
	}
	rcv.SetStatus(0)
	rcv.Wait(t, 5*time.Second, "the verification", func(s []eventstest.SET) bool { return len(s) == 1 })
	es.waitDelivered(t)
	fams = scrape(t, es.Client(), es.URL+"/metrics")
	if got := value(t, fams, "latchkey_event_backlog", stream); got != 0 {
		t.Errorf("backlog after delivery: %v, want 0", got)
	}
	if got := value(t, fams, "latchkey_event_deliveries_total", stream, "result=delivered"); got != 1 {
		t.Errorf("delivered: %v, want 1", got)
	}
	if got := value(t, fams, "latchkey_event_delivery_latency_seconds", stream); got != 1 {
		t.Errorf("latency observations: %v, want 1", got)
	}
}
