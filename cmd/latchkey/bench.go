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
	// target is an external server's base URL (http:// only: the load
	// client speaks plain HTTP/1.1); clientID and clientSecret are the
	// client the load generator authenticates as there.
	target       string
	clientID     string
	clientSecret string
	// ceiling measures a plain form-parsing server first.
	ceiling bool
	// tokensSet: --tokens was given (with --target, a minimum to issue).
	tokensSet bool
	// replica is a second server on the same database: a sample of the
	// revocations the target answers is introspected there (see
	// crossCheck); with split, half the load clients use it.
	replica string
	split   bool
	// alt is the address drive sends every other load client to (split).
	alt string
}

func (a *app) benchCommand() *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test revocation, introspection and issuance, in-process or against a running server",
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

  3. drives POST /o/token/ with grant_type=client_credentials.

It prints throughput and p50/p99/max latency. Requests go to 127.0.0.1 only.

--target URL measures a running server instead (load generator and server
in separate processes, as with wrk). The client named by --client-id and
--client-secret (or LATCHKEY_BENCH_CLIENT_ID, LATCHKEY_BENCH_CLIENT_SECRET)
must be confidential and allowed client_credentials; create it with
--introspect. bench issues tokens through the target's /o/token/ (that is
the issuance phase; --tokens tops the pool up first), revokes them, checks a
sample of the answered ones is reported inactive by introspection, then
introspects the rest.

--replica URL names a second server on the same database (another replica).
During the revocation phase, a sample of the revocations answered 200 is
introspected there at once: the first answer must already be inactive.
bench reports how many were, and the time from the 200 to the inactive
answer. --split also sends half the load clients to the replica, for the
aggregate throughput of both.

--ceiling first measures a plain net/http server on loopback that parses
the same form body as the revocation endpoint and answers a small JSON,
with the same load client and settings, and reports every figure as a
ratio to it: how close Latchkey comes to what the machine allows.

On Linux each figure is followed by what it cost the whole machine (every
process on it, load generator included, from /proc/stat): the share of
its CPUs kept busy, and the CPU time per request. With --ceiling the
ceiling's CPU per request over each figure's follows the ratios: a ratio
is that cost ratio times the share of the machine each keeps busy.

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
			if err := a.flagsFromEnv(cmd.Flags(), [][2]string{
				{"client-id", "LATCHKEY_BENCH_CLIENT_ID"}, {"client-secret", "LATCHKEY_BENCH_CLIENT_SECRET"}}); err != nil {
				return err
			}
			o.tokensSet = cmd.Flags().Changed("tokens")
			if o.target == "" && o.tokens < o.clients {
				return usagef("--tokens must be at least --clients")
			}
			if o.tokens < 0 {
				return usagef("--tokens must not be negative")
			}
			if o.runs < 1 || o.runs > 50 {
				return usagef("--runs must be between 1 and 50")
			}
			if o.events && (o.target != "" || o.ceiling) {
				return usagef("--events runs in-process only, without --target or --ceiling")
			}
			if o.target != "" {
				if o.clientID == "" || o.clientSecret == "" {
					return usagef("--target needs --client-id and --client-secret (or LATCHKEY_BENCH_CLIENT_ID, LATCHKEY_BENCH_CLIENT_SECRET)")
				}
				if _, err := targetAddr(o.target); err != nil {
					return usagef("--target: %v", err)
				}
			}
			if o.replica != "" {
				if o.target == "" {
					return usagef("--replica needs --target")
				}
				if _, err := targetAddr(o.replica); err != nil {
					return usagef("--replica: %v", err)
				}
			}
			if o.split && o.replica == "" {
				return usagef("--split needs --replica")
			}
			return a.runBench(cmd.Context(), o)
		},
	}
	cmd.AddCommand(a.benchFillCommand())
	f := cmd.Flags()
	f.IntVar(&o.clients, "clients", 64, "concurrent HTTP clients")
	f.DurationVar(&o.duration, "duration", 10*time.Second, "how long each phase runs")
	f.IntVar(&o.tokens, "tokens", 120_000, "grants to seed (each has an access and a refresh token); revocation stops early if they run out")
	f.BoolVar(&o.keep, "keep", false, "keep the temporary database for inspection")
	f.StringVar(&o.profile, "cpuprofile", "", "write a CPU profile of the introspection phase (with --events: of all runs) to this file")
	f.BoolVar(&o.events, "events", false, "compare revocation with and without a live push event stream")
	f.IntVar(&o.runs, "runs", 5, "with --events: runs of each kind (the medians are compared)")
	f.StringVar(&o.target, "target", "", "measure the server at this http:// base URL instead of an in-process one")
	f.StringVar(&o.clientID, "client-id", "", "with --target: the client to authenticate as (env LATCHKEY_BENCH_CLIENT_ID)")
	f.StringVar(&o.clientSecret, "client-secret", "", "with --target: its secret (env LATCHKEY_BENCH_CLIENT_SECRET, which keeps it out of the process list)")
	f.StringVar(&o.replica, "replica", "", "with --target: a second server on the same database; revocations answered by the target are checked there")
	f.BoolVar(&o.split, "split", false, "with --replica: half the load clients use the replica")
	f.BoolVar(&o.ceiling, "ceiling", false, "measure a plain form-parsing net/http server first and report each figure as a ratio to it")
	return cmd
}

// benchResult is one phase's measurements.
type benchResult struct {
	name       string
	ok, failed int
	elapsed    time.Duration
	latencies  []time.Duration
	// machine is what the phase cost the whole machine, where it can be
	// read (Linux); hasMachine says whether it was.
	machine    machineUse
	hasMachine bool
}

func (r benchResult) rate() float64 { return float64(r.ok) / r.elapsed.Seconds() }

func (r benchResult) quantile(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	return r.latencies[min(len(r.latencies)-1, int(q*float64(len(r.latencies))))]
}

// runBench runs the ceiling (with --ceiling), then the in-process or the
// target benchmark, and prints the ratios.
func (a *app) runBench(ctx context.Context, o benchOptions) error {
	var ceiling benchResult
	if o.ceiling {
		var err error
		if ceiling, err = a.benchCeiling(ctx, o); err != nil {
			return err
		}
	}
	var results []benchResult
	var err error
	if o.target != "" {
		results, err = a.benchTarget(ctx, o)
	} else {
		results, err = a.bench(ctx, o)
	}
	if o.ceiling && ceiling.ok > 0 && len(results) > 0 {
		parts := make([]string, 0, len(results))
		for _, r := range results {
			parts = append(parts, fmt.Sprintf("%s %.3f", r.name, r.rate()/ceiling.rate()))
		}
		fmt.Fprintf(a.stdout, "ratio to ceiling (%.0f/s): %s\n", ceiling.rate(), strings.Join(parts, ", "))
		// The ratio is the cost ratio times the share of the machine each
		// keeps busy: these are the first factor.
		parts = parts[:0]
		for _, r := range results {
			if r.hasMachine && ceiling.hasMachine && r.machine.perReq > 0 {
				parts = append(parts, fmt.Sprintf("%s %.3f", r.name, float64(ceiling.machine.perReq)/float64(r.machine.perReq)))
			}
		}
		if len(parts) > 0 {
			fmt.Fprintf(a.stdout, "CPU per request, the ceiling's over each (%.1f µs): %s\n",
				float64(ceiling.machine.perReq)/float64(time.Microsecond), strings.Join(parts, ", "))
		}
	}
	return err
}

func (a *app) bench(ctx context.Context, o benchOptions) ([]benchResult, error) {
	dir, err := os.MkdirTemp("", "latchkey-bench-")
	if err != nil {
		return nil, err
	}
	if o.keep {
		fmt.Fprintf(a.stdout, "database: %s\n", filepath.Join(dir, "bench.db"))
	} else {
		defer os.RemoveAll(dir)
	}
	st, err := models.Open(filepath.Join(dir, "bench.db"), models.Options{})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		return nil, err
	}
	user, err := st.CreateUser(ctx, "bench", models.RoleUser, "bench-password")
	if err != nil {
		return nil, err
	}
	app, err := st.CreateClient(ctx, models.NewClient{Name: "Bench App", Type: models.ClientConfidential,
		GrantTypes: []models.GrantType{models.GrantPassword, models.GrantRefreshToken}})
	if err != nil {
		return nil, err
	}
	rs, err := st.CreateClient(ctx, models.NewClient{Name: "Bench Resource Server", Type: models.ClientConfidential,
		GrantTypes: []models.GrantType{models.GrantClientCredentials}, Introspect: true})
	if err != nil {
		return nil, err
	}
	start := time.Now()
	issued, err := st.BulkIssue(ctx, app.Client, user.ID, o.tokens)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(a.stdout, "seeded %d grants (%d tokens) in %v\n", len(issued), 2*len(issued), time.Since(start).Round(time.Millisecond))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
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
		return nil, a.benchEvents(ctx, o, st, base, app, issued)
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
	rev.name = "revoke"
	a.report(o, rev)
	fmt.Fprintf(a.stdout, "  verified: %d of %d answered tokens are revoked in the database (%d are not)\n", revoked, rev.ok, notRevoked)
	commits, ops := st.BatchStats()
	if commits > 0 {
		fmt.Fprintf(a.stdout, "  group commit: %.1f writes per fsync on average\n", float64(ops)/float64(commits))
	}

	// Phase 2: introspection of the tokens still live.
	live := issued[min(int(next.Load()), len(issued)-reserve):]
	if len(live) == 0 {
		return nil, fmt.Errorf("no live tokens left for introspection; raise --tokens")
	}
	if o.profile != "" {
		pf, err := os.Create(o.profile)
		if err != nil {
			return nil, err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return nil, err
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
	intro.name = "introspect"
	a.report(o, intro)
	if o.profile != "" {
		pprof.StopCPUProfile() // the profile is of introspection only
	}

	// Phase 3: client_credentials issuance, each a new grant and access
	// token, durably committed.
	issue := a.driveIssue(ctx, o, addr, rsAuth, nil)
	a.report(o, issue)
	if notRevoked > 0 {
		return nil, fmt.Errorf("%d tokens answered 200 but are not revoked", notRevoked)
	}
	return []benchResult{issue, rev, intro}, nil
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
	cpu0, cpuOK := readCPU()
	start := time.Now()
	for i := range o.clients {
		wg.Go(func() {
			c := &loadConn{addr: addr}
			if o.alt != "" && i%2 == 1 {
				c.addr = o.alt
			}
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
	if cpu1, ok := readCPU(); ok && cpuOK {
		res.machine, res.hasMachine = machineUseBetween(cpu0, cpu1, res.elapsed, res.ok)
	}
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

func (a *app) report(o benchOptions, r benchResult) {
	fmt.Fprintf(a.stdout, "%s: %d clients for %v: %d ok, %d failed; %.0f/s; p50 %v, p99 %v, max %v\n",
		r.name, o.clients, r.elapsed.Round(time.Millisecond), r.ok, r.failed, r.rate(),
		r.quantile(0.50).Round(10*time.Microsecond), r.quantile(0.99).Round(10*time.Microsecond),
		r.quantile(1).Round(10*time.Microsecond))
	if r.hasMachine {
		fmt.Fprintf(a.stdout, "  machine: %.1f %% of %d CPUs busy; %.1f µs of CPU per request, every process on the machine\n",
			100*r.machine.busy, r.machine.cpus, float64(r.machine.perReq)/float64(time.Microsecond))
	}
}

// privatePush lets tx take push streams to the bench's loopback receivers.
func privatePush(tx *events.Transmitter) *events.Transmitter {
	tx.AllowPrivatePush = true
	return tx
}
