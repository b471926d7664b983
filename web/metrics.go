package web

import (
	"maps"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/models"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one server's Prometheus registry: its HTTP requests, the
// store's counters (read from models.Stats at each scrape: models keeps
// plain counters and knows nothing of Prometheus: revocations, writes,
// purges, logins), and the Go runtime and process. Each server has its own
// registry, never the global default, so that many servers in one test
// binary keep their numbers apart.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec

	eventsOnce sync.Once

	// observers caches the counter and histogram of each label set seen,
	// so that a request looks its labels up once, in a map without
	// hashing or locking, rather than twice in the vectors. The map is
	// never changed: a new label set (rare) replaces it with a copy.
	observers atomic.Pointer[map[observerKey]observerPair]
	mu        sync.Mutex // serializes replacements of observers
}

type observerKey struct {
	route, method string
	status        int
}

type observerPair struct {
	count   prometheus.Counter
	latency prometheus.Observer
}

// observer returns the metrics of one label set.
func (m *Metrics) observer(route, method string, status int) observerPair {
	k := observerKey{route, method, status}
	if p, ok := m.lookup(k); ok {
		return p
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, ok := m.lookup(k); ok {
		return p
	}
	code := strconv.Itoa(status)
	p := observerPair{m.requests.WithLabelValues(route, method, code), m.latency.WithLabelValues(route, method, code)}
	next := map[observerKey]observerPair{k: p}
	if old := m.observers.Load(); old != nil {
		maps.Copy(next, *old)
	}
	m.observers.Store(&next)
	return p
}

func (m *Metrics) lookup(k observerKey) (observerPair, bool) {
	if cur := m.observers.Load(); cur != nil {
		p, ok := (*cur)[k]
		return p, ok
	}
	return observerPair{}, false
}

// NewMetrics returns the registry for a server on st.
func NewMetrics(st *models.Store) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	labels := []string{"route", "method", "code"}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "latchkey_http_requests_total",
		Help: "HTTP requests answered, by route pattern, method and status.",
	}, labels)
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "latchkey_http_request_duration_seconds",
		Help:    "Time to answer HTTP requests, by route pattern, method and status.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, labels)
	m.reg.MustRegister(m.requests, m.latency, storeCollector{st},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the exposition, for the metrics route or a listener of
// its own.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// record counts a request by its route pattern (echo's c.Path(), such as
// "/admin/users/:id"), never the raw path: a label per URL would let
// anyone grow the registry without bound. The access log middleware
// (observe) calls it with the status that was sent.
func (m *Metrics) record(route, method string, status int, latency time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	// The key's size is bounded: routes and methods are finite sets, and
	// statuses are three-digit numbers.
	o := m.observer(route, methodLabel(method), status)
	o.count.Inc()
	o.latency.Observe(latency.Seconds())
}

// methodLabel keeps the method label to the methods HTTP defines: anyone
// can send "BREW".
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// loopbackOnly keeps /metrics on the main listener to scrapers on this
// machine: the TCP peer must be a loopback address, and the request must
// not have been forwarded. A reverse proxy on the same machine connects
// from loopback for every client on the internet; the forwarding headers
// it adds are what give it away, so their presence alone refuses the
// request, whatever address they name and whether or not the proxy is
// trusted (--trusted-proxy decides whose address the audit trail records,
// not who may read metrics). Anyone else gets the 404 of a path that does
// not exist.
func loopbackOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		ip := net.ParseIP(host)
		if err != nil || ip == nil || !ip.IsLoopback() {
			return echo.ErrNotFound
		}
		for _, h := range []string{echo.HeaderXForwardedFor, echo.HeaderXRealIP, "Forwarded"} {
			if _, ok := r.Header[h]; ok {
				return echo.ErrNotFound
			}
		}
		return next(c)
	}
}

var (
	descRevocations = prometheus.NewDesc("latchkey_revocations_total",
		"Revocation requests, by caller (endpoint, dashboard, self_service, cli, reuse) and result.", []string{"path", "result"}, nil)
	descRevokedGrants = prometheus.NewDesc("latchkey_revoked_grants_total",
		"Grants revoked, by caller.", []string{"path"}, nil)
	descRevokedTokens = prometheus.NewDesc("latchkey_revoked_tokens_total",
		"Live access and refresh tokens revoked with their grants, by caller.", []string{"path"}, nil)
	descUnknownTokens = prometheus.NewDesc("latchkey_revocations_unknown_token_total",
		"Revocation requests naming a token Latchkey does not know (they write no audit event).", nil, nil)
	descCommits = prometheus.NewDesc("latchkey_write_commits_total",
		"Write transactions committed (on SQLite, each one fsync).", nil, nil)
	descWrites = prometheus.NewDesc("latchkey_writes_total",
		"Writes carried by those commits (SQLite group commit).", nil, nil)
	descBatchSize = prometheus.NewDesc("latchkey_write_batch_size",
		"Writes per committed transaction (SQLite group commit; always 1 on PostgreSQL).", nil, nil)
	descCommitSeconds = prometheus.NewDesc("latchkey_write_commit_seconds",
		"Time each write transaction's COMMIT took: on SQLite, writing the group commit's pages into the WAL and its fsync.", nil, nil)
	descPurged = prometheus.NewDesc("latchkey_purged_rows_total",
		"Rows the purge deleted, by table.", []string{"table"}, nil)
	descPurgeRuns = prometheus.NewDesc("latchkey_purge_runs_total",
		"Purges that finished (done), found another replica purging (skipped), or failed.", []string{"result"}, nil)
	descPurgeLast = prometheus.NewDesc("latchkey_purge_last_success_timestamp_seconds",
		"When a purge last finished, in Unix seconds; 0 until one has.", nil, nil)
	descLoginFailures = prometheus.NewDesc("latchkey_login_failures_total",
		"Password checks that failed, at /login and in the password grant.", nil, nil)
	descLoginThrottled = prometheus.NewDesc("latchkey_login_throttled_total",
		"Password checks refused by the login throttle before any hash was computed.", nil, nil)
)

// constHistogram is a histogram of count observations summing to sum,
// cumulative[i] of them at most bounds[i].
func constHistogram(d *prometheus.Desc, count uint64, sum float64, bounds []float64, cumulative []uint64) prometheus.Metric {
	buckets := make(map[float64]uint64, len(bounds))
	for i, b := range bounds {
		buckets[b] = cumulative[i]
	}
	return prometheus.MustNewConstHistogram(d, count, sum, buckets)
}

// storeCollector reads the store's counters at each scrape.
type storeCollector struct{ st *models.Store }

func (storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRevocations, descRevokedGrants, descRevokedTokens, descUnknownTokens,
		descCommits, descWrites, descBatchSize, descCommitSeconds, descPurged, descPurgeRuns, descPurgeLast,
		descLoginFailures, descLoginThrottled} {
		ch <- d
	}
}

func (c storeCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.st.Stats()
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, p := range models.RevocationPaths {
		for _, o := range models.RevocationOutcomes {
			counter(descRevocations, s.Revocations[p][o], string(p), string(o))
		}
		counter(descRevokedGrants, s.RevokedGrants[p], string(p))
		counter(descRevokedTokens, s.RevokedTokens[p], string(p))
	}
	counter(descUnknownTokens, s.UnknownTokenRevocations)
	counter(descLoginFailures, s.LoginFailures)
	counter(descLoginThrottled, s.LoginThrottled)
	counter(descCommits, s.Commits)
	counter(descWrites, s.Writes)
	ch <- constHistogram(descBatchSize, uint64(s.Commits), float64(s.Writes), models.BatchSizeBounds, s.BatchSizes)
	ch <- constHistogram(descCommitSeconds, s.CommitSecondsCount, s.CommitSecondsSum, models.CommitSecondsBounds[:], s.CommitSeconds)
	for _, t := range models.PurgeTables {
		counter(descPurged, s.Purged[t], t)
	}
	counter(descPurgeRuns, s.PurgeRuns.Done, "done")
	counter(descPurgeRuns, s.PurgeRuns.Skipped, "skipped")
	counter(descPurgeRuns, s.PurgeRuns.Failed, "failed")
	var last float64
	if !s.PurgeLastSuccess.IsZero() {
		last = float64(s.PurgeLastSuccess.Unix())
	}
	ch <- prometheus.MustNewConstMetric(descPurgeLast, prometheus.GaugeValue, last)
}
