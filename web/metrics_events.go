package web

import (
	"context"
	"time"

	"github.com/latchkey/latchkey/events"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	descEventBacklog = prometheus.NewDesc("latchkey_event_backlog",
		"Revocation events queued on a stream and not yet delivered (push) or acknowledged (poll), by stream.",
		[]string{"stream"}, nil)
	descEventDeliveries = prometheus.NewDesc("latchkey_event_deliveries_total",
		"SET deliveries by this replica, by stream and result: delivered (push answered 202), failed (push not accepted; retried), acknowledged (poll).",
		[]string{"stream", "result"}, nil)
	descEventLatency = prometheus.NewDesc("latchkey_event_delivery_latency_seconds",
		"Time from a revocation's commit to the receiver's 202, by stream (push).",
		[]string{"stream"}, nil)
)

// WatchEvents adds the revocation-event metrics of t: the backlog of every
// stream (read from the database at each scrape), and this replica's
// deliveries and their latency. A stream label is a stream_id; streams
// beyond events.MaxStreamLabels share the label "_other", so a receiver
// creating streams cannot grow the registry without bound. Calling it
// again does nothing.
func (m *Metrics) WatchEvents(t *events.Transmitter) {
	m.eventsOnce.Do(func() { m.reg.MustRegister(eventCollector{t}) })
}

type eventCollector struct{ t *events.Transmitter }

func (eventCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descEventBacklog
	ch <- descEventDeliveries
	ch <- descEventLatency
}

func (c eventCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if rows, err := c.t.Store().StreamsOverview(ctx); err == nil {
		var other float64
		for i, r := range rows {
			if i < events.MaxStreamLabels {
				ch <- prometheus.MustNewConstMetric(descEventBacklog, prometheus.GaugeValue, float64(r.Backlog), r.StreamID)
			} else {
				other += float64(r.Backlog)
			}
		}
		if len(rows) > events.MaxStreamLabels {
			ch <- prometheus.MustNewConstMetric(descEventBacklog, prometheus.GaugeValue, other, events.OtherStreams)
		}
	}
	for _, s := range c.t.Stats().Snapshot() {
		counter := func(v uint64, result string) {
			ch <- prometheus.MustNewConstMetric(descEventDeliveries, prometheus.CounterValue, float64(v), s.StreamID, result)
		}
		counter(s.Delivered, "delivered")
		counter(s.Failed, "failed")
		counter(s.Acknowledged, "acknowledged")
		buckets := make(map[float64]uint64, len(events.LatencyBounds))
		var cum uint64
		for i, b := range events.LatencyBounds {
			cum += s.Latency[i]
			buckets[b] = cum
		}
		ch <- prometheus.MustNewConstHistogram(descEventLatency, s.LatencyCount, s.LatencySum, buckets, s.StreamID)
	}
}
