package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/latchkey/latchkey/demo"
	"github.com/latchkey/latchkey/events"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/web"
	"github.com/spf13/cobra"
)

// shutdownTimeout is how long requests in flight get to finish after
// SIGINT or SIGTERM.
const shutdownTimeout = 15 * time.Second

type serveOptions struct {
	addr        string
	issuer      string
	accessTTL   time.Duration
	refreshTTL  time.Duration
	demo        bool
	proxies     []string
	metricsAddr string
	pprofAddr   string
	purgeAfter  age
	// pushAllowPrivate lets push streams use http and reach private
	// addresses (development and tests).
	pushAllowPrivate bool
	memoryLimit      memoryLimit
}

// The background purge runs about every purgeInterval, the first time
// about purgeFirstDelay after start (both jittered by ±20 %).
const (
	purgeInterval   = 10 * time.Minute
	purgeFirstDelay = time.Minute
)

func (a *app) serveCommand() *cobra.Command {
	o := serveOptions{purgeAfter: age(models.DefaultPurgeAfter)}
	cmd := &cobra.Command{
		Use:   "serve [--addr 127.0.0.1:8000] [--issuer URL] [--access-token-ttl 1h] [--refresh-token-ttl 720h] [--demo] [--metrics-addr ADDR] [--purge-after 720h]",
		Short: "Run the authorization server",
		Long: `Run the authorization server until SIGINT or SIGTERM.

Every flag may also come from the environment: LATCHKEY_ADDR, LATCHKEY_ISSUER,
LATCHKEY_ACCESS_TOKEN_TTL, LATCHKEY_REFRESH_TOKEN_TTL, LATCHKEY_DEMO; a flag on
the command line wins. The issuer defaults to http:// and the listening address.
Authorization codes live 60 seconds.

--demo fills an empty database with demo users, clients and a few thousand
tokens, and prints the demo logins. Every demo user's password is
"` + demo.Password + `": never use --demo where real users can reach it.

On a database without an admin, serve prints a one-time setup URL for
creating the first one. Logs are JSON on stderr.

/metrics (Prometheus) answers only clients on this machine, and never a
request a proxy forwarded; --metrics-addr (LATCHKEY_METRICS_ADDR) moves it to a
listener of its own instead. About every 10 minutes the server deletes tokens,
codes, sessions and grants dead for longer than --purge-after
(LATCHKEY_PURGE_AFTER: a duration such as 720h or days such as 30d); on
PostgreSQL one replica at a time does it.

Revocation events: on a first start serve generates the key that signs them
(see latchkey keys rotate), and runs a push worker beside the server that
delivers them to the receivers' streams (on PostgreSQL, each stream by one
replica at a time). Push endpoints must be https URLs of public addresses;
--push-allow-private (LATCHKEY_PUSH_ALLOW_PRIVATE) also allows http and
loopback, private and link-local addresses, for development and tests.

Memory: serve keeps the Go runtime's memory (heap, stacks, the runtime's own
structures) under a soft limit of 24MiB, or three times the live heap when that
is more, so that the peak stays near what the server uses; --memory-limit
(LATCHKEY_MEMORY_LIMIT) sets a fixed one, "off" removes it, and GOMEMLIMIT is
obeyed when neither is set.`,
		Args: noArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.flagsFromEnv(cmd.Flags(), [][2]string{
				{"addr", "LATCHKEY_ADDR"},
				{"issuer", "LATCHKEY_ISSUER"},
				{"access-token-ttl", "LATCHKEY_ACCESS_TOKEN_TTL"},
				{"refresh-token-ttl", "LATCHKEY_REFRESH_TOKEN_TTL"},
				{"demo", "LATCHKEY_DEMO"},
				{"trusted-proxy", "LATCHKEY_TRUSTED_PROXIES"},
				{"metrics-addr", "LATCHKEY_METRICS_ADDR"},
				{"purge-after", "LATCHKEY_PURGE_AFTER"},
				{"push-allow-private", "LATCHKEY_PUSH_ALLOW_PRIVATE"},
				{"memory-limit", "LATCHKEY_MEMORY_LIMIT"},
			})
		},
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			if o.accessTTL <= 0 || o.refreshTTL <= 0 {
				return usagef("--access-token-ttl and --refresh-token-ttl must be positive")
			}
			if o.issuer != "" {
				iss, err := parseIssuer(o.issuer)
				if err != nil {
					return err
				}
				o.issuer = iss
			}
			if _, err := parseProxies(o.proxies); err != nil {
				return err
			}
			if o.metricsAddr != "" {
				if _, _, err := net.SplitHostPort(o.metricsAddr); err != nil {
					return usagef("--metrics-addr %q must be host:port, like 127.0.0.1:9100", o.metricsAddr)
				}
			}
			if o.pprofAddr != "" {
				if err := checkPprofAddr(o.pprofAddr); err != nil {
					return err
				}
			}
			return a.serve(cmd.Context(), o)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:8000", "host:port to listen on (env LATCHKEY_ADDR)")
	f.StringVar(&o.issuer, "issuer", "", "public base URL (RFC 8414 issuer); default http://ADDR (env LATCHKEY_ISSUER)")
	f.DurationVar(&o.accessTTL, "access-token-ttl", models.DefaultTTLs.Access, "access token lifetime (env LATCHKEY_ACCESS_TOKEN_TTL)")
	f.DurationVar(&o.refreshTTL, "refresh-token-ttl", models.DefaultTTLs.Refresh, "refresh token lifetime (env LATCHKEY_REFRESH_TOKEN_TTL)")
	f.BoolVar(&o.demo, "demo", false, "seed an empty database with demo data (env LATCHKEY_DEMO)")
	f.StringSliceVar(&o.proxies, "trusted-proxy", nil, "network (CIDR or IP) of a load balancer whose X-Forwarded-For is believed; repeatable (env LATCHKEY_TRUSTED_PROXIES, comma-separated)")
	f.StringVar(&o.metricsAddr, "metrics-addr", "", "host:port of a listener of its own for /metrics, which the main listener then does not serve (env LATCHKEY_METRICS_ADDR)")
	f.BoolVar(&o.pushAllowPrivate, "push-allow-private", false, "let event push streams use http and reach loopback, private and link-local addresses; for development and tests only (env LATCHKEY_PUSH_ALLOW_PRIVATE)")
	f.StringVar(&o.pprofAddr, "debug-pprof-addr", "", "loopback host:port serving Go's profiles (/debug/pprof/), for measuring")
	_ = f.MarkHidden("debug-pprof-addr")
	f.Var(&o.memoryLimit, "memory-limit", "soft limit on the Go runtime's memory (heap and stacks): 24MiB, 1GiB, or off; GOMEMLIMIT applies when neither this nor LATCHKEY_MEMORY_LIMIT is set (env LATCHKEY_MEMORY_LIMIT)")
	f.Var(&o.purgeAfter, "purge-after", "delete tokens, codes, sessions and grants dead for longer than this: 720h, 30d (env LATCHKEY_PURGE_AFTER)")
	return cmd
}

// parseIssuer checks --issuer: an absolute http(s) URL without query or
// fragment (RFC 8414 §2). It is returned in RFC 3986 §6.2.2.1's normal
// form, the scheme and host in lower case (what every comparison with
// "https://" downstream, the cookies' Secure and HSTS among them, expects
// of "HTTPS://Auth.Example.com"), and without a trailing slash so that
// paths can be appended.
func parseIssuer(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.User != nil || u.Opaque != "" {
		return "", usagef("--issuer must be an http or https URL without query or fragment, like https://auth.example.com")
	}
	u.Host = strings.ToLower(u.Host) // url.Parse has lowered the scheme
	return strings.TrimRight(u.String(), "/"), nil
}

// defaultIssuer is http:// and the address listened on. A wildcard host
// becomes localhost, and port 0 the port the system chose.
func defaultIssuer(addr string, ln net.Addr) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	if port == "0" {
		if tcp, ok := ln.(*net.TCPAddr); ok {
			port = fmt.Sprint(tcp.Port)
		}
	}
	return "http://" + net.JoinHostPort(host, port)
}

func (a *app) serve(ctx context.Context, o serveOptions) error {
	defer a.applyMemoryLimit(o.memoryLimit)()
	// The log goes out through a buffer that no request waits on
	// (logWriter); the first defer runs last, after everything that logs.
	logOut := newLogWriter(a.stderr, logBufferMax)
	defer logOut.Close()
	log := slog.New(slog.NewJSONHandler(logOut, nil))
	st, applied, err := a.openStore(ctx, log)
	if err != nil {
		return err
	}
	defer st.Close()
	if applied > 0 {
		log.Info("migrated", "applied", applied)
	}
	// A database that can be read but not written (a read-only file or
	// volume, a full disk, a read-only PostgreSQL) would serve pages and
	// fail every login and token: refuse to start instead.
	if err := st.Ready(ctx); err != nil {
		return fmt.Errorf("refusing to start: %w", err)
	}

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return listenError(o.addr, err)
	}
	defer ln.Close()
	if o.issuer == "" {
		o.issuer = defaultIssuer(o.addr, ln.Addr())
	}

	if o.demo {
		if err := a.seedDemo(ctx, o.issuer, log); err != nil {
			return err
		}
	}
	hasAdmin, err := st.HasAdmin(ctx)
	if err != nil {
		return err
	}
	var setupURL string
	if !hasAdmin {
		raw, err := st.CreateSetupToken(ctx)
		if err != nil {
			return err
		}
		setupURL = o.issuer + "/setup?token=" + raw
	}

	proxies, err := parseProxies(o.proxies)
	if err != nil {
		return err
	}
	// The key that signs revocation events: generated on a first start.
	transmitter := events.NewTransmitter(st, o.issuer)
	transmitter.AllowPrivatePush = o.pushAllowPrivate
	kid, created, err := transmitter.Keys().Ensure(ctx)
	if err != nil {
		return fmt.Errorf("signing key: %w", err)
	}
	if created {
		log.Info("generated the event signing key", "kid", kid)
	}
	cfg := web.Config{
		Events:           transmitter,
		TrustedProxies:   proxies,
		Issuer:           o.issuer,
		TTLs:             models.TTLs{Access: o.accessTTL, Refresh: o.refreshTTL, Code: models.DefaultTTLs.Code},
		Metrics:          web.NewMetrics(st),
		MetricsElsewhere: o.metricsAddr != "",
	}
	if o.pprofAddr != "" {
		stop, err := servePprof(o.pprofAddr)
		if err != nil {
			return err
		}
		defer stop()
	}
	metricsServed := make(chan error, 1)
	var metricsSrv *http.Server
	if o.metricsAddr != "" {
		mln, err := net.Listen("tcp", o.metricsAddr)
		if err != nil {
			return fmt.Errorf("--metrics-addr: %w", err)
		}
		defer mln.Close()
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", cfg.Metrics.Handler())
		metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 60 * time.Second,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		go func() { metricsServed <- metricsSrv.Serve(mln) }()
		fmt.Fprintf(a.stdout, "Metrics on http://%s/metrics\n", mln.Addr())
	}

	// The purger stops before the store closes (defers run last first).
	purgeCtx, stopPurge := context.WithCancel(context.Background())
	purgeDone := make(chan struct{})
	go func() {
		defer close(purgeDone)
		st.RunPurger(purgeCtx, models.PurgerOptions{OlderThan: time.Duration(o.purgeAfter), Interval: purgeInterval, FirstDelay: purgeFirstDelay})
	}()
	defer func() { stopPurge(); <-purgeDone }()

	// The push worker delivers revocation events; it stops before the
	// store closes, after recording the deliveries in flight.
	workerCtx, stopWorker := context.WithCancel(context.Background())
	workerDone := make(chan struct{})
	go func() {
		defer close(workerDone)
		events.NewWorker(transmitter, events.WorkerOptions{Log: log}).Run(workerCtx)
	}()
	defer func() { stopWorker(); <-workerDone }()

	srv := &http.Server{
		Handler:           web.New(cfg, st, log),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(transmitter.StopPolls) // long polls answer at once
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	log.Info("listening", "addr", ln.Addr().String(), "issuer", o.issuer,
		"access_token_ttl", o.accessTTL.String(), "refresh_token_ttl", o.refreshTTL.String(),
		"metrics_addr", o.metricsAddr, "purge_after", o.purgeAfter.String())
	fmt.Fprintf(a.stdout, "Latchkey listening on http://%s\n", ln.Addr())
	if setupURL != "" {
		// The one place a one-time secret is printed: stdout, for the
		// operator, never the log.
		fmt.Fprintf(a.stdout, "No admin yet. Create the first one at: %s\n", setupURL)
	}

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case err := <-metricsServed:
		return fmt.Errorf("serve metrics: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	stopPurge()  // a purge in progress ends after its current batch
	stopWorker() // pushes in flight end; what they delivered is recorded
	if metricsSrv != nil {
		_ = metricsSrv.Shutdown(sctx)
	}
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}

// seedDemo fills an empty database with the demo data (package demo, on a
// store of its own whose clock it moves) and prints the demo logins; on a
// database that has data already it says so and changes nothing.
func (a *app) seedDemo(ctx context.Context, issuer string, log *slog.Logger) error {
	start := time.Now()
	res, err := demo.Seed(ctx, a.db)
	if errors.Is(err, models.ErrAlreadyExists) {
		fmt.Fprintf(a.stdout, "Demo: the database already has users or clients, so nothing was seeded; demo logins, if --demo seeded it, are unchanged: admin / %s\n",
			demo.Password)
		return nil
	}
	if err != nil {
		return err
	}
	log.Info("seeded demo data", "duration", time.Since(start).Round(time.Millisecond).String(),
		"grants", res.Grants, "tokens", res.Tokens, "revoked_grants", res.RevokedGrants, "audit_events", res.AuditEvents)
	w := a.stdout
	fmt.Fprintf(w, "Demo data: %s, %s, %s and %s over the last 30 days (%s revoked).\n",
		plural(len(res.Users), "user"), plural(len(res.Clients), "client"), plural(res.Grants, "grant"),
		plural(res.Tokens, "token"), plural(res.RevokedGrants, "grant"))
	fmt.Fprintf(w, "Demo admin: log in at %s/login as admin, password %s\n", issuer, demo.Password)
	fmt.Fprintf(w, "Other demo users, same password: %s\n", strings.Join(res.Users[1:], ", "))
	fmt.Fprintln(w, "Demo clients (secrets are shown only this once):")
	for _, c := range res.Clients {
		secret := "(public client: no secret)"
		if c.Secret != "" {
			secret = "client_secret=" + c.Secret
		}
		fmt.Fprintf(w, "  %-16s client_id=%s %s\n", c.Name, c.ClientID, secret)
	}
	return nil
}

// parseProxies reads --trusted-proxy values: CIDRs, or single addresses.
func parseProxies(vals []string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, v := range vals {
		v = strings.TrimSpace(v)
		if !strings.Contains(v, "/") {
			ip := net.ParseIP(v)
			if ip == nil {
				return nil, usagef("--trusted-proxy %q is not an IP address or CIDR", v)
			}
			bits := 128
			if ip.To4() != nil {
				bits = 32
			}
			v = fmt.Sprintf("%s/%d", v, bits)
		}
		_, n, err := net.ParseCIDR(v)
		if err != nil {
			return nil, usagef("--trusted-proxy %q is not an IP address or CIDR", v)
		}
		out = append(out, n)
	}
	return out, nil
}

// listenError says what to do when the address cannot be listened on. Port
// 8000 is taken often: Django's runserver, which Latchkey's users run
// beside it, also defaults to it.
func listenError(addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		by := "another server"
		if _, port, _ := net.SplitHostPort(addr); port == "8000" {
			by += ", perhaps Django's runserver, which also uses 8000"
		}
		return fmt.Errorf("%s is already in use (by %s); choose another address with --addr or LATCHKEY_ADDR", addr, by)
	}
	return fmt.Errorf("cannot listen on %s (--addr): %w", addr, err)
}
