package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/events"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/web"
)

// benchOptions are `latchkey bench`'s flags.
type benchOptions struct {
	clients  int
	duration time.Duration
	tokens   int
	keep     bool
	profile  string
	events   bool
	runs     int
}

func (a *app) benchCommand() *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test revocation and introspection on a throwaway database over loopback HTTP",
		Long: `bench measures the two hot endpoints the way a deployment sees them.

It creates a fresh SQLite database in a temporary directory (never --db:
a benchmark must not touch real data), seeds tokens, starts the server on
127.0.0.1 with the production settings (WAL, synchronous=FULL, group
commit), then for --duration each:

  1. drives POST /o/revoke_token/ from --clients concurrent clients, each
     revoking a distinct token, and afterwards checks in the database that
     every token answered 200 really is revoked;
  2. drives POST /o/introspect/ the same way on live tokens, checking each
     answer says active.

It prints throughput and p50/p99 latency. Requests go to 127.0.0.1 only.

--events measures what revocation events cost instead: --runs revocation
runs of --duration without any event stream, and as many with a live push
stream to an in-process receiver that answers 202, alternating, with the push
worker running as in serve. It prints each run's revocations per second, the
medians and their ratio, and the time from each revocation's commit to the
receiver's 202 (p50, p99) under that load.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.clients < 1 || o.clients > 4096 {
				return usagef("--clients must be between 1 and 4096")
			}
			if o.duration <= 0 || o.duration > 10*time.Minute {
				return usagef("--duration must be between 0 and 10m")
			}
			if o.tokens < o.clients {
				return usagef("--tokens must be at least --clients")
			}
			if o.runs < 1 || o.runs > 50 {
				return usagef("--runs must be between 1 and 50")
			}
			return a.bench(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.clients, "clients", 64, "concurrent HTTP clients")
	f.DurationVar(&o.duration, "duration", 10*time.Second, "how long each phase runs")
	f.IntVar(&o.tokens, "tokens", 120_000, "grants to seed (each has an access and a refresh token); revocation stops early if they run out")
	f.BoolVar(&o.keep, "keep", false, "keep the temporary database for inspection")
	f.StringVar(&o.profile, "cpuprofile", "", "write a CPU profile of the introspection phase (with --events: of all runs) to this file")
	f.BoolVar(&o.events, "events", false, "compare revocation with and without a live push event stream")
	f.IntVar(&o.runs, "runs", 5, "with --events: runs of each kind (the medians are compared)")
	return cmd
}

// benchResult is one phase's measurements.
type benchResult struct {
	ok, failed int
	elapsed    time.Duration
	latencies  []time.Duration
}

func (r benchResult) rate() float64 { return float64(r.ok) / r.elapsed.Seconds() }

func (r benchResult) quantile(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	return r.latencies[min(len(r.latencies)-1, int(q*float64(len(r.latencies))))]
}

func (a *app) bench(ctx context.Context, o benchOptions) error {
	dir, err := os.MkdirTemp("", "latchkey-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintf(a.stdout, "database: %s\n", filepath.Join(dir, "bench.db"))
	} else {
		defer os.RemoveAll(dir)
	}
	st, err := models.Open(filepath.Join(dir, "bench.db"), models.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		return err
	}
	user, err := st.CreateUser(ctx, "bench", models.RoleUser, "bench-password")
	if err != nil {
		return err
	}
	app, err := st.CreateClient(ctx, models.NewClient{Name: "Bench App", Type: models.ClientConfidential,
		GrantTypes: []models.GrantType{models.GrantPassword, models.GrantRefreshToken}})
	if err != nil {
		return err
	}
	rs, err := st.CreateClient(ctx, models.NewClient{Name: "Bench Resource Server", Type: models.ClientConfidential,
		GrantTypes: []models.GrantType{models.GrantClientCredentials}, Introspect: true})
	if err != nil {
		return err
	}
	start := time.Now()
	issued, err := st.BulkIssue(ctx, app.Client, user.ID, o.tokens)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "seeded %d grants (%d tokens) in %v\n", len(issued), 2*len(issued), time.Since(start).Round(time.Millisecond))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	srv := &http.Server{Handler: web.New(web.Config{Issuer: base, TTLs: models.DefaultTTLs, Events: privatePush(events.NewTransmitter(st, base))}, st, nil),
		ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	addr := ln.Addr().String()
	fmt.Fprintf(a.stdout, "machine: %d CPUs (GOMAXPROCS %d), %s/%s, %s; server and load generator share it\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version())

	if o.events {
		return a.benchEvents(ctx, o, st, base, app, issued)
	}

	// Phase 1: revocation. Each request takes the next unrevoked grant and
	// revokes its access token (the grant, so both tokens, goes).
	// Keep a tenth of the tokens live for the introspection phase.
	reserve := max(len(issued)/10, 1)
	var next atomic.Int64
	answered := make([]bool, len(issued))
	revAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(app.Client.ClientID+":"+app.Secret))
	rev := drive(ctx, o, addr, func(c *loadConn) (bool, error) {
		i := int(next.Add(1) - 1)
		if i >= len(issued)-reserve {
			return false, errExhausted
		}
		status, _, err := c.post("/o/revoke_token/", revAuth, "token="+issued[i].AccessToken)
		if err != nil || status != 200 {
			return false, fmt.Errorf("status %d: %w", status, err)
		}
		answered[i] = true
		return true, nil
	})
	// Durability check: every 200 must be revoked in the database.
	revoked, notRevoked := 0, 0
	for i, ok := range answered {
		if !ok {
			continue
		}
		if _, err := st.ActiveToken(ctx, issued[i].RefreshToken); errors.Is(err, models.ErrNotFound) {
			revoked++
		} else {
			notRevoked++
		}
	}
	a.report("revoke", o, rev)
	fmt.Fprintf(a.stdout, "  verified: %d of %d answered tokens are revoked in the database (%d are not)\n", revoked, rev.ok, notRevoked)
	commits, ops := st.BatchStats()
	if commits > 0 {
		fmt.Fprintf(a.stdout, "  group commit: %.1f writes per fsync on average\n", float64(ops)/float64(commits))
	}

	// Phase 2: introspection of the tokens still live.
	live := issued[min(int(next.Load()), len(issued)-reserve):]
	if len(live) == 0 {
		return fmt.Errorf("no live tokens left for introspection; raise --tokens")
	}
	if o.profile != "" {
		pf, err := os.Create(o.profile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var k atomic.Int64
	rsAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(rs.Client.ClientID+":"+rs.Secret))
	intro := drive(ctx, o, addr, func(c *loadConn) (bool, error) {
		tok := live[int(k.Add(1)-1)%len(live)]
		status, body, err := c.post("/o/introspect/", rsAuth, "token="+tok.AccessToken)
		if err != nil || status != 200 {
			return false, fmt.Errorf("status %d: %w", status, err)
		}
		// A prefix check keeps the load generator's own CPU use down; the
		// server writes "active" first.
		if !bytes.HasPrefix(body, []byte(`{"active":true,`)) {
			return false, fmt.Errorf("a live token was reported inactive")
		}
		return true, nil
	})
	a.report("introspect", o, intro)
	if notRevoked > 0 {
		return fmt.Errorf("%d tokens answered 200 but are not revoked", notRevoked)
	}
	return nil
}

var errExhausted = errors.New("out of tokens")

// drive runs fn from o.clients goroutines, each with its own keep-alive
// connection, until o.duration passes (or fn runs out of work), timing
// each call.
func drive(ctx context.Context, o benchOptions, addr string, fn func(c *loadConn) (bool, error)) benchResult {
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	var mu sync.Mutex
	var res benchResult
	var wg sync.WaitGroup
	start := time.Now()
	for range o.clients {
		wg.Go(func() {
			c := &loadConn{addr: addr}
			defer c.close()
			lat := make([]time.Duration, 0, 4096)
			ok, failed := 0, 0
			for ctx.Err() == nil {
				t0 := time.Now()
				good, err := fn(c)
				if errors.Is(err, errExhausted) {
					cancel()
					break
				}
				if good {
					ok++
					lat = append(lat, time.Since(t0))
				} else {
					failed++
				}
			}
			mu.Lock()
			res.ok += ok
			res.failed += failed
			res.latencies = append(res.latencies, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	slices.Sort(res.latencies)
	return res
}

// loadConn is a minimal HTTP/1.1 keep-alive client, as load tools like wrk
// are: it writes a request and reads a Content-Length response, and nothing
// else. net/http's client costs about as much CPU per request as the server
// does, and on a 2-core machine shared with the server that cost would be
// measured as the server's.
type loadConn struct {
	addr string
	c    net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
}

func (l *loadConn) close() {
	if l.c != nil {
		l.c.Close()
		l.c = nil
	}
}

func (l *loadConn) post(path, authz, body string) (int, []byte, error) {
	if l.c == nil {
		c, err := net.Dial("tcp", l.addr)
		if err != nil {
			return 0, nil, err
		}
		l.c, l.r, l.w = c, bufio.NewReaderSize(c, 8192), bufio.NewWriterSize(c, 4096)
	}
	status, b, err := l.roundTrip(path, authz, body)
	if err != nil {
		l.close() // start afresh on the next request
	}
	return status, b, err
}

func (l *loadConn) roundTrip(path, authz, body string) (int, []byte, error) {
	fmt.Fprintf(l.w, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s",
		path, l.addr, authz, len(body), body)
	if err := l.w.Flush(); err != nil {
		return 0, nil, err
	}
	line, err := l.r.ReadSlice('\n')
	if err != nil {
		return 0, nil, err
	}
	var status int
	if _, err := fmt.Sscanf(string(line), "HTTP/1.1 %d", &status); err != nil {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	length := -1
	for {
		h, err := l.r.ReadSlice('\n')
		if err != nil {
			return 0, nil, err
		}
		hs := strings.TrimRight(string(h), "\r\n")
		if hs == "" {
			break
		}
		if k, v, ok := strings.Cut(hs, ":"); ok && strings.EqualFold(k, "Content-Length") {
			if length, err = strconv.Atoi(strings.TrimSpace(v)); err != nil {
				return 0, nil, err
			}
		}
	}
	if length < 0 {
		return 0, nil, errors.New("response without Content-Length")
	}
	b := make([]byte, length)
	if _, err := io.ReadFull(l.r, b); err != nil {
		return 0, nil, err
	}
	return status, b, nil
}

func (a *app) report(name string, o benchOptions, r benchResult) {
	fmt.Fprintf(a.stdout, "%s: %d clients for %v: %d ok, %d failed; %.0f/s; p50 %v, p99 %v\n",
		name, o.clients, r.elapsed.Round(time.Millisecond), r.ok, r.failed, r.rate(),
		r.quantile(0.50).Round(10*time.Microsecond), r.quantile(0.99).Round(10*time.Microsecond))
}

// privatePush lets tx take push streams to the bench's loopback receivers.
func privatePush(tx *events.Transmitter) *events.Transmitter {
	tx.AllowPrivatePush = true
	return tx
}
