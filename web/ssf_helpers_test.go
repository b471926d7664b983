package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/latchkey/latchkey/events"
	"github.com/latchkey/latchkey/events/eventstest"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
	"github.com/latchkey/latchkey/web"
	"golang.org/x/oauth2/clientcredentials"
)

// eventServer is a test server with a revocation-event transmitter, its
// push worker running (with a short first backoff, so retries do not slow
// the tests; the schedule's shape is the real one), and a receiver client
// created with --ssf.
type eventServer struct {
	*testServer
	tx       *events.Transmitter
	receiver *models.CreatedClient
	bearer   string // the receiver's access token, from client_credentials
}

// testBackoff is the first retry's wait in these tests (1 s in production).
const testBackoff = 50 * time.Millisecond

func newEventServer(t testing.TB) *eventServer {
	t.Helper()
	return newEventServerWith(t, true)
}

// newEventServerWith is newEventServer, without the push worker unless
// worker is set (a fuzzer's streams must not push anywhere).
func newEventServerWith(t testing.TB, worker bool) *eventServer {
	t.Helper()
	return newEventServerOpts(t, worker, true)
}

// newEventServerOpts is newEventServerWith; allowPrivate lets push streams
// reach the loopback receivers of these tests (serve --push-allow-private).
func newEventServerOpts(t testing.TB, worker, allowPrivate bool) *eventServer {
	t.Helper()
	var st *models.Store
	db := t.TempDir() + "/latchkey.db"
	if modelstest.OnPostgres() {
		st, db = modelstest.NewPostgresStore(t)
	} else {
		st = modelstest.Open(t, db)
	}
	f := modelstest.NewFixture(t, st)
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	tx := events.NewTransmitter(st, issuer)
	tx.AllowPrivatePush = allowPrivate
	srv.Config.Handler = web.New(web.Config{Issuer: issuer, TTLs: models.DefaultTTLs, Events: tx}, st, nil)
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(tx.StopPolls) // runs first: long polls answer, so Close does not wait for them
	if worker {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			events.NewWorker(tx, events.WorkerOptions{InitialBackoff: testBackoff, PollInterval: 100 * time.Millisecond}).Run(ctx)
		}()
		t.Cleanup(func() { cancel(); <-done })
	}
	es := &eventServer{testServer: &testServer{Server: srv, st: st, f: f, db: db}, tx: tx}
	es.receiver, es.bearer = es.newReceiverClient(t, "Resource Server")
	return es
}

// newReceiverClient registers a confidential client created with --ssf
// and gets its bearer token through x/oauth2's client credentials.
func (es *eventServer) newReceiverClient(t testing.TB, name string) (*models.CreatedClient, string) {
	t.Helper()
	rc, err := es.st.CreateClient(context.Background(), models.NewClient{Name: name, Type: models.ClientConfidential,
		GrantTypes: []models.GrantType{models.GrantClientCredentials}, SSF: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg := clientcredentials.Config{ClientID: rc.Client.ClientID, ClientSecret: rc.Secret, TokenURL: es.URL + "/o/token/"}
	tok, err := cfg.Token(es.ctx())
	if err != nil {
		t.Fatalf("client credentials: %v", err)
	}
	return rc, tok.AccessToken
}

// call sends a JSON request to an SSF endpoint with a bearer token and
// returns the status and the raw body.
func (es *eventServer) call(t testing.TB, method, path, bearer string, body any) (int, []byte, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		if s, ok := body.(string); ok {
			rd = bytes.NewBufferString(s)
		} else {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
	}
	req, _ := http.NewRequest(method, es.URL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := es.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, resp.Header
}

// streamJSON is a stream configuration as the tests read it.
type streamJSON struct {
	StreamID        string   `json:"stream_id"`
	Iss             string   `json:"iss"`
	Aud             string   `json:"aud"`
	EventsSupported []string `json:"events_supported"`
	EventsRequested []string `json:"events_requested"`
	EventsDelivered []string `json:"events_delivered"`
	Delivery        struct {
		Method              string `json:"method"`
		EndpointURL         string `json:"endpoint_url"`
		AuthorizationHeader string `json:"authorization_header"`
	} `json:"delivery"`
	Description             string `json:"description"`
	MinVerificationInterval int    `json:"min_verification_interval"`
}

func decode[T any](t testing.TB, raw []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

// pushStream creates a push stream to rcv for the default receiver and
// sets rcv's audience and Authorization to the stream's.
func (es *eventServer) pushStream(t testing.TB, rcv *eventstest.Receiver) streamJSON {
	t.Helper()
	rcv.Authorization = "Bearer receiver-secret"
	status, raw, _ := es.call(t, "POST", "/ssf/stream", es.bearer, map[string]any{
		"delivery": map[string]string{"method": events.DeliveryPush, "endpoint_url": rcv.URL(), "authorization_header": rcv.Authorization},
	})
	if status != http.StatusCreated {
		t.Fatalf("create push stream: %d %s", status, raw)
	}
	s := decode[streamJSON](t, raw)
	rcv.SetAudience(s.Aud)
	return s
}

// pollStream creates a poll stream for the default receiver.
func (es *eventServer) pollStream(t testing.TB) streamJSON {
	t.Helper()
	status, raw, _ := es.call(t, "POST", "/ssf/stream", es.bearer, map[string]any{
		"delivery": map[string]string{"method": events.DeliveryPoll},
	})
	if status != http.StatusCreated {
		t.Fatalf("create poll stream: %d %s", status, raw)
	}
	return decode[streamJSON](t, raw)
}

// pollJSON is an RFC 8936 poll response.
type pollJSON struct {
	Sets          map[string]string `json:"sets"`
	MoreAvailable bool              `json:"moreAvailable"`
}

func (es *eventServer) poll(t testing.TB, streamID string, req map[string]any) pollJSON {
	t.Helper()
	status, raw, _ := es.call(t, "POST", "/ssf/poll/"+streamID, es.bearer, req)
	if status != 200 {
		t.Fatalf("poll: %d %s", status, raw)
	}
	return decode[pollJSON](t, raw)
}

// waitDelivered waits until no stream has an event left to deliver: a
// push answered 202 is recorded a moment after the receiver has it.
func (es *eventServer) waitDelivered(t testing.TB) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		rows, err := es.st.StreamsOverview(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		backlog := 0
		for _, r := range rows {
			backlog += r.Backlog
		}
		if backlog == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("backlog still %d after 5 s", backlog)
		}
	}
}
