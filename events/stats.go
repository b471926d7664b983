package events

import (
	"slices"
	"sync"
	"time"
)

// LatencyBounds are the upper bounds, in seconds, of the delivery latency
// histogram: from the event's commit to the receiver's 202.
var LatencyBounds = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}

// MaxStreamLabels bounds how many streams get series of their own in the
// metrics; deliveries on streams beyond it are counted under OtherStreams.
// Streams are few (one or two per resource server), but a receiver can
// create them, and a label per stream would otherwise grow without bound.
const MaxStreamLabels = 100

// OtherStreams is the stream label of deliveries beyond MaxStreamLabels.
const OtherStreams = "_other"

// StreamStats are one stream's delivery counters.
type StreamStats struct {
	StreamID  string
	Delivered uint64 // SETs pushed and answered 202
	Failed    uint64 // push attempts not accepted
	// Acknowledged counts SETs a poll receiver acknowledged.
	Acknowledged uint64
	// Latency counts deliveries by LatencyBounds bucket (not cumulative),
	// with the sum and count of seconds.
	Latency      []uint64
	LatencySum   float64
	LatencyCount uint64
}

// Stats are the transmitter's delivery counters, kept in memory per
// process; models knows nothing of them.
type Stats struct {
	mu      sync.Mutex
	streams map[string]*StreamStats
}

func newStats() *Stats { return &Stats{streams: map[string]*StreamStats{}} }

func (s *Stats) stream(id string) *StreamStats {
	st, ok := s.streams[id]
	if ok {
		return st
	}
	if len(s.streams) >= MaxStreamLabels {
		id = OtherStreams
		if st, ok := s.streams[id]; ok {
			return st
		}
	}
	st = &StreamStats{StreamID: id, Latency: make([]uint64, len(LatencyBounds))}
	s.streams[id] = st
	return st
}

// delivered counts a delivery accepted after latency.
func (s *Stats) delivered(streamID string, latency time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stream(streamID)
	st.Delivered++
	sec := latency.Seconds()
	if i, _ := slices.BinarySearch(LatencyBounds, sec); i < len(LatencyBounds) {
		st.Latency[i]++
	}
	st.LatencySum += sec
	st.LatencyCount++
}

// failed counts a push the receiver did not accept.
func (s *Stats) failed(streamID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stream(streamID).Failed++
}

// acknowledged counts n SETs a poll receiver acknowledged.
func (s *Stats) acknowledged(streamID string, n int) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stream(streamID).Acknowledged += uint64(n)
}

// Snapshot returns a copy of every stream's counters, by stream id.
func (s *Stats) Snapshot() []StreamStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]StreamStats, 0, len(s.streams))
	for _, st := range s.streams {
		c := *st
		c.Latency = slices.Clone(st.Latency)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b StreamStats) int {
		switch {
		case a.StreamID < b.StreamID:
			return -1
		case a.StreamID > b.StreamID:
			return 1
		}
		return 0
	})
	return out
}
