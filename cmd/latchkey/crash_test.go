package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models"
)

// crashTokens is how many grants the crash test revokes, from crashWorkers
// goroutines, SIGKILLing the server once half of them were answered.
const (
	crashTokens  = 400
	crashWorkers = 16
)

// TestRevocationSurvivesSIGKILL checks end to end that a 200 means the
// revocation is on disk. It builds the real binary, runs
// `latchkey serve` as a child process on a SQLite file, revokes tokens over
// HTTP from 16 goroutines, SIGKILLs the server while requests are in flight,
// restarts it on the same file and checks that every token that got a 200
// is still revoked — and that tokens nobody asked to revoke still work.
func TestRevocationSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode: it builds the binary and runs it as a child process")
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	t.Logf("built %s in %s", filepath.Base(bin), time.Since(start).Round(time.Millisecond))

	// Seed: one confidential client and crashTokens grants, each with an
	// access and a refresh token. The store is closed before the server
	// opens the file.
	db := filepath.Join(dir, "latchkey.db")
	clientID, secret, tokens := seedCrashDB(t, db)

	srv := startServer(t, bin, db)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: crashWorkers}}
	defer hc.CloseIdleConnections()

	// What happened to each token's revocation request.
	const (
		notSent = iota
		failed  // transport error: the server died before answering
		ok      // 200
		other   // any other status: a bug in this test or the server
	)
	state := make([]atomic.Int32, len(tokens))
	var (
		next, answered, inflight atomic.Int64
		inflightAtKill           int64
		killOnce                 sync.Once
		killed                   = make(chan struct{})
		wg                       sync.WaitGroup
		statusMu                 sync.Mutex
		otherStatuses            []string
		hung                     atomic.Pointer[error] // a request failed before the kill
		killedAt                 atomic.Bool
	)
	signal := func(sig syscall.Signal) {
		killOnce.Do(func() {
			killedAt.Store(true)
			inflightAtKill = inflight.Load()
			if err := srv.cmd.Process.Signal(sig); err != nil {
				t.Errorf("%v: %v", sig, err)
			}
			close(killed)
		})
	}
	kill := func() { signal(syscall.SIGKILL) }
	revokeStart := time.Now()
	for range crashWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-killed:
					return // the tokens left stay unsent: they must stay active
				default:
				}
				i := int(next.Add(1) - 1)
				if i >= len(tokens) {
					return
				}
				// Alternate access and refresh tokens, with the right, a
				// wrong and no hint: every one revokes the whole grant.
				tok, hint := tokens[i].AccessToken, "access_token"
				if i%2 == 1 {
					tok = tokens[i].RefreshToken
				}
				switch i % 3 {
				case 1:
					hint = "refresh_token"
				case 2:
					hint = ""
				}
				form := url.Values{"token": {tok}}
				if hint != "" {
					form.Set("token_type_hint", hint)
				}
				req, err := http.NewRequestWithContext(ctx, "POST", srv.url+"/o/revoke_token/", strings.NewReader(form.Encode()))
				if err != nil {
					t.Error(err)
					return
				}
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
				state[i].Store(failed)
				inflight.Add(1)
				resp, err := hc.Do(req)
				inflight.Add(-1)
				if err != nil {
					if !killedAt.Load() {
						// The server failed or hung on its own: stop now
						// rather than wait out every request's timeout.
						// SIGQUIT makes it print its goroutines.
						hung.CompareAndSwap(nil, &err)
						signal(syscall.SIGQUIT)
					}
					continue // the server is gone; the next loop sees killed
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					state[i].Store(other)
					statusMu.Lock()
					otherStatuses = append(otherStatuses, resp.Status)
					statusMu.Unlock()
					continue
				}
				state[i].Store(ok)
				if answered.Add(1) == crashTokens/2 {
					kill()
				}
			}
		}()
	}
	wg.Wait()
	kill() // in case the threshold was never reached
	werr := srv.wait()
	t.Logf("revoked over HTTP for %s; SIGKILL with %d requests in flight", time.Since(revokeStart).Round(time.Millisecond), inflightAtKill)

	var count [4]int
	for i := range state {
		count[state[i].Load()]++
	}
	if p := hung.Load(); p != nil {
		t.Fatalf("a revocation failed before the kill: %v\nthe server's goroutines, in Latchkey's code:\n%s", *p, goroutines(srv.stderr.String()))
	}
	t.Logf("answered 200: %d, failed at the kill: %d, never sent: %d, other status: %d", count[ok], count[failed], count[notSent], count[other])
	if len(otherStatuses) > 0 {
		t.Errorf("revocations answered %v, want only 200 before the kill", otherStatuses)
	}
	var exit *exec.ExitError
	if !errors.As(werr, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("server exit: got %v, want killed by SIGKILL (stderr: %s)", werr, srv.stderrTail())
	}
	if count[ok] < crashTokens/2 {
		t.Fatalf("answered 200: got %d, want at least %d before the kill", count[ok], crashTokens/2)
	}
	// The kill must land mid-run, or the test proves nothing about in-flight
	// commits. (Requests in flight may still all be answered: the writer
	// commits them as one batch, and the answers can leave just before the
	// process dies.)
	if inflightAtKill == 0 || count[notSent] == 0 {
		t.Errorf("the kill did not land mid-run: %d requests in flight, %d of %d never sent", inflightAtKill, count[notSent], len(tokens))
	}

	// Restart on the same file: SQLite recovers the WAL the killed server
	// left. Every token that got a 200 is refused; tokens never sent work.
	srv = startServer(t, bin, db)
	for i, iss := range tokens {
		s := state[i].Load()
		if s != ok && s != notSent {
			continue // in flight at the kill: either outcome is allowed
		}
		got := meStatus(t, hc, srv.url, iss.AccessToken)
		switch {
		case s == ok && got != http.StatusUnauthorized:
			t.Errorf("token %d got a 200 before the crash: /api/me after restart got %d, want 401", i, got)
		case s == notSent && got != http.StatusOK:
			t.Errorf("token %d was never revoked: /api/me after restart got %d, want 200", i, got)
		}
	}
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := srv.wait(); err != nil {
		t.Errorf("restarted server: exit %v after SIGTERM, want 0 (stderr: %s)", err, srv.stderrTail())
	}

	// And in the file itself: both tokens of every answered grant.
	st, err := models.Open(db, models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	revokedInFlight := 0
	for i, iss := range tokens {
		s := state[i].Load()
		for _, raw := range []string{iss.AccessToken, iss.RefreshToken} {
			_, err := st.ActiveToken(ctx, raw)
			switch {
			case s == ok && !errors.Is(err, models.ErrNotFound):
				t.Errorf("token %d got a 200 before the crash: ActiveToken got %v, want %v", i, err, models.ErrNotFound)
			case s == notSent && err != nil:
				t.Errorf("token %d was never revoked: ActiveToken got %v, want it active", i, err)
			case s == failed && raw == iss.AccessToken && errors.Is(err, models.ErrNotFound):
				revokedInFlight++
			}
		}
	}
	t.Logf("of the %d requests cut off by the kill, %d had committed; whole test %s", count[failed], revokedInFlight, time.Since(start).Round(time.Millisecond))
}

// buildBinary builds cmd/latchkey into dir, with the race detector when
// this test binary has it, so that the build reuses the test's cached
// packages.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("crash test skipped: no go command in PATH to build the binary: %v", err)
	}
	bin := filepath.Join(dir, "latchkey")
	args := []string{"build", "-o", bin}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" && s.Value == "true" {
				args = append(args, "-race")
			}
		}
	}
	cmd := exec.Command(gobin, append(args, ".")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin
}

// seedCrashDB creates db with a confidential client and crashTokens grants,
// and returns the client's credentials and the tokens.
func seedCrashDB(t *testing.T, db string) (clientID, secret string, tokens []*models.Issued) {
	t.Helper()
	ctx := context.Background()
	st, err := models.Open(db, models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, "alice", models.RoleUser, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	cc, err := st.CreateClient(ctx, models.NewClient{Name: "Crash", Type: models.ClientConfidential,
		GrantTypes: []models.GrantType{models.GrantPassword, models.GrantRefreshToken}})
	if err != nil {
		t.Fatal(err)
	}
	tokens, err = st.BulkIssue(ctx, cc.Client, u.ID, crashTokens)
	if err != nil {
		t.Fatal(err)
	}
	if len(tokens) != crashTokens {
		t.Fatalf("BulkIssue: got %d grants, want %d", len(tokens), crashTokens)
	}
	return cc.Client.ClientID, cc.Secret, tokens
}

// server is a `latchkey serve` child process.
type server struct {
	cmd    *exec.Cmd
	url    string
	stderr *lockedBuffer
	done   chan error
}

// startServer runs `latchkey serve` on db at a port the system picks (or
// as args say: a later flag wins), and returns once /healthz answers.
func startServer(t *testing.T, bin, db string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--db", db, "--addr", "127.0.0.1:0"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LATCHKEY_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // no-op once it has exited
		_ = s.wait()
	})
	addr := make(chan string, 1)
	go func() {
		// Read stdout to the end, so the child never blocks on it.
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, found := strings.CutPrefix(sc.Text(), "Latchkey listening on "); found {
				select {
				case addr <- a:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		s.done <- cmd.Wait()
	}()
	select {
	case s.url = <-addr:
	case err := <-s.done:
		s.done <- err
		t.Fatalf("latchkey serve exited before listening: %v\n%s", err, s.stderrTail())
	case <-time.After(10 * time.Second):
		t.Fatalf("latchkey serve printed no address in 10 s\n%s", s.stderrTail())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(s.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/healthz: not healthy after 10 s (last error %v)\n%s", s.url, err, s.stderrTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wait returns how the process ended; it may be called more than once.
func (s *server) wait() error {
	select {
	case err := <-s.done:
		s.done <- err
		return err
	case <-time.After(20 * time.Second):
		return fmt.Errorf("pid %d still running after 20 s", s.cmd.Process.Pid)
	}
}

func (s *server) stderrTail() string {
	b := s.stderr.String()
	if len(b) > 4000 {
		b = "…" + b[len(b)-4000:]
	}
	return b
}

// goroutines keeps, from a Go traceback, each goroutine's header and its
// frames in Latchkey's own packages: enough to see what a hung server waits
// on.
func goroutines(dump string) string {
	var b strings.Builder
	for line := range strings.Lines(dump) {
		if strings.HasPrefix(line, "goroutine ") || strings.Contains(line, "github.com/latchkey/latchkey/") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// meStatus returns the status of GET /api/me with a bearer token.
func meStatus(t *testing.T, hc *http.Client, base, access string) int {
	t.Helper()
	req, err := http.NewRequest("GET", base+"/api/me", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("/api/me: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// lockedBuffer is a bytes.Buffer safe for the writer goroutine exec starts
// and a reader in the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
