package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/events"
	"github.com/latchkey/latchkey/events/eventstest"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/web"
)

// eventsSetup is a database with a user, an app, an SSF receiver client
// and a push stream to rcv.
type eventsSetup struct {
	st       *models.Store
	user     *models.User
	app      *models.CreatedClient
	receiver *models.CreatedClient
	stream   *models.Stream
}

func setupEvents(t *testing.T, st *models.Store, rcv *eventstest.Receiver) *eventsSetup {
	t.Helper()
	ctx := context.Background()
	s := &eventsSetup{st: st}
	var err error
	if s.user, err = st.CreateUser(ctx, "alice", models.RoleUser, "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if s.app, err = st.CreateClient(ctx, models.NewClient{Name: "App", Type: models.ClientConfidential,
		GrantTypes: []models.GrantType{models.GrantPassword, models.GrantRefreshToken}}); err != nil {
		t.Fatal(err)
	}
	if s.receiver, err = st.CreateClient(ctx, models.NewClient{Name: "RS", Type: models.ClientConfidential,
		GrantTypes: []models.GrantType{models.GrantClientCredentials}, SSF: true}); err != nil {
		t.Fatal(err)
	}
	rcv.Authorization = "Bearer rs-secret"
	if s.stream, err = st.CreateStream(ctx, s.receiver.Client.ID, models.StreamConfig{Method: models.DeliveryPush,
		EndpointURL: rcv.URL(), AuthorizationHeader: rcv.Authorization}); err != nil {
		t.Fatal(err)
	}
	rcv.SetAudience(s.receiver.Client.ClientID)
	return s
}

// TestCLIRevocationSendsSessionRevoked revokes from the shell, in-process,
// beside a running server and its push worker: the receiver gets a
// session-revoked for the token's grant, and one for the user.
func TestCLIRevocationSendsSessionRevoked(t *testing.T) {
	c := newCLI(t)
	st := c.store()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	tx := events.NewTransmitter(st, issuer)
	tx.AllowPrivatePush = true // the receiver is on loopback
	srv.Config.Handler = web.New(web.Config{Issuer: issuer, TTLs: models.DefaultTTLs, Events: tx}, st, nil)
	srv.Start()
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); events.NewWorker(tx, events.WorkerOptions{}).Run(ctx) }()
	defer func() { cancel(); <-done }()
	rcv := eventstest.NewReceiver(t, issuer)
	s := setupEvents(t, st, rcv)

	issued, err := st.BulkIssue(context.Background(), s.app.Client, s.user.ID, 2)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.ActiveToken(context.Background(), issued[0].AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	c.ok(issued[0].RefreshToken+"\n", "revoke", "--token", "-", "--reason", "shell")
	set := rcv.WaitSession(t, 10*time.Second, info.GrantPublicID)
	if set.User() != "alice" || set.Client() != s.app.Client.ClientID || set.Initiator() != "admin" || set.Reason() != "shell" {
		t.Errorf("SET: %s reason %q", eventstest.Describe([]eventstest.SET{set}), set.Reason())
	}
	c.ok("", "revoke", "--user", "alice")
	rcv.Wait(t, 10*time.Second, "a session-revoked for alice", func(got []eventstest.SET) bool {
		return slices.ContainsFunc(got, func(x eventstest.SET) bool {
			return x.Session() == "" && x.User() == "alice" && x.Initiator() == "admin"
		})
	})
}

// freeAddr returns a loopback address no one listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestEventsSurviveSIGKILL checks that a 200 from a revocation means its
// event is delivered even across a crash: with the receiver down, tokens
// are revoked (each answered 200), the server is SIGKILLed and restarted
// on the same database, and once the receiver is back every event
// arrives, once, in the order of the revocations.
func TestEventsSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode: it builds the binary and runs it as a child process")
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	db := filepath.Join(dir, "latchkey.db")
	addr := freeAddr(t)
	issuer := "http://" + addr
	rcv := eventstest.NewReceiver(t, issuer)
	rcv.Stop() // down from the start: pushes are refused

	st, err := models.Open(db, models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := setupEvents(t, st, rcv)
	const n = 12
	issued, err := st.BulkIssue(context.Background(), s.app.Client, s.user.ID, n)
	if err != nil {
		t.Fatal(err)
	}
	var sids []string
	for _, iss := range issued {
		info, err := st.ActiveToken(context.Background(), iss.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		sids = append(sids, info.GrantPublicID)
	}
	st.Close()

	srv := startServer(t, bin, db, "--addr", addr, "--push-allow-private")
	hc := &http.Client{Timeout: 5 * time.Second}
	for i, iss := range issued {
		req, _ := http.NewRequest("POST", srv.url+"/o/revoke_token/", strings.NewReader(url.Values{"token": {iss.AccessToken}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(s.app.Client.ClientID, s.app.Secret)
		resp, err := hc.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("revocation %d: %v %v", i, resp, err)
		}
		resp.Body.Close()
	}
	time.Sleep(300 * time.Millisecond) // the worker tries, and fails, at least once
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = srv.wait()
	if got := rcv.Received(); len(got) != 0 {
		t.Fatalf("received before the receiver was up: %d", len(got))
	}

	srv = startServer(t, bin, db, "--addr", addr, "--push-allow-private")
	rcv.Start()
	got := rcv.Wait(t, 20*time.Second, fmt.Sprintf("%d events", n), func(s []eventstest.SET) bool { return len(s) >= n })
	var order []string
	for _, x := range got {
		order = append(order, x.Session())
		if x.Initiator() != "user" || x.User() != "alice" {
			t.Errorf("SET: %s", eventstest.Describe([]eventstest.SET{x}))
		}
	}
	if !slices.Equal(order, sids) {
		t.Errorf("order after the crash:\n got %v\nwant %v", order, sids)
	}
	time.Sleep(200 * time.Millisecond)
	if len(rcv.Received()) != n {
		t.Errorf("received %d SETs, want %d (duplicates are reported by the receiver)", len(rcv.Received()), n)
	}
	_ = srv
}
