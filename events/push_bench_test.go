package events_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/events"
)

// leanReceiver answers every request on ln with 202 and no body, reading
// each request whole: a keep-alive HTTP/1.1 loop that costs far less CPU
// than net/http's server, so that a benchmark measures the push client.
// It counts the connections it accepted and the requests it read.
func leanReceiver(tb testing.TB) (url string, conns, reqs *atomic.Int64) {
	url, conns, reqs, _ = leanReceiverOpen(tb)
	return url, conns, reqs
}

// leanReceiverOpen is leanReceiver that also counts the connections open
// (accepted and not yet closed by the client).
func leanReceiverOpen(tb testing.TB) (url string, conns, reqs, open *atomic.Int64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	conns, reqs, open = new(atomic.Int64), new(atomic.Int64), new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			open.Add(1)
			go func() {
				defer open.Add(-1)
				defer c.Close()
				r := textproto.NewReader(bufio.NewReader(c))
				for {
					if _, err := r.ReadLine(); err != nil {
						return
					}
					h, err := r.ReadMIMEHeader()
					if err != nil {
						return
					}
					n, _ := strconv.Atoi(h.Get("Content-Length"))
					if _, err := io.CopyN(io.Discard, r.R, int64(n)); err != nil {
						return
					}
					reqs.Add(1)
					if _, err := c.Write([]byte("HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")); err != nil {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/events", conns, reqs, open
}

// TestPushKeepsConnection: pushes one after another to the same receiver
// go over one kept-alive connection (the response is read to its end).
func TestPushKeepsConnection(t *testing.T) {
	url, conns, reqs := leanReceiver(t)
	p := events.NewPusher(2*time.Second, true)
	for range 20 {
		if err := p.Push(context.Background(), url, "Bearer x", "a.b.c"); err != nil {
			t.Fatal(err)
		}
	}
	if conns.Load() != 1 || reqs.Load() != 20 {
		t.Errorf("%d connections for %d requests, want 1 for 20", conns.Load(), reqs.Load())
	}
}

// leanEndpoint is a pusher and a prepared endpoint of a lean receiver on
// loopback, as the push benchmarks use them.
func leanEndpoint(b *testing.B) (*events.Pusher, *events.Endpoint) {
	url, _, _ := leanReceiver(b)
	ep, err := events.NewEndpoint(url, "Bearer 0123456789abcdef")
	if err != nil {
		b.Fatal(err)
	}
	return events.NewPusher(10*time.Second, true), ep
}

// BenchmarkPush measures the push client's cost of one RFC 8935 push of
// a SET-sized body to a lean receiver on loopback.
func BenchmarkPush(b *testing.B) {
	p, ep := leanEndpoint(b)
	set := string(make([]byte, 620))
	ctx := context.Background()
	b.ReportAllocs()
	reportCPU(b, func() {
		for b.Loop() {
			if err := p.PushTo(ctx, ep, set); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDeliver measures the worker's CPU per SET apart from the
// database: building and signing a session-revoked SET (ES256) and
// pushing it to a lean receiver on loopback.
func BenchmarkDeliver(b *testing.B) {
	p, ep := leanEndpoint(b)
	k, _ := events.NewKey()
	s, _ := events.NewSigner(k)
	ctx := context.Background()
	now := time.Now()
	b.ReportAllocs()
	reportCPU(b, func() {
		for b.Loop() {
			c := events.SessionRevokedClaims("http://127.0.0.1:8000", "aud", "j.s", now, events.Revocation{Session: "abc", User: "alice", Client: "cid", At: now, Initiator: "user", Reason: "client request"})
			set, err := s.Sign(c)
			if err != nil {
				b.Fatal(err)
			}
			if err := p.PushTo(ctx, ep, set); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestPushTimeoutAndRedirect: a receiver that does not answer within the
// pusher's timeout is a timeout, and a redirect is a refusal, never
// followed (it would carry the stream's Authorization elsewhere).
func TestPushTimeoutAndRedirect(t *testing.T) {
	var followed atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		followed.Add(1)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer other.Close()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
			return
		}
		http.Redirect(w, r, other.URL, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	defer close(release)
	p := events.NewPusher(200*time.Millisecond, true)
	start := time.Now()
	if err := p.Push(context.Background(), srv.URL+"/slow", "", "a.b.c"); err == nil || err.Error() != "receiver timed out" {
		t.Errorf("slow receiver: %v, want \"receiver timed out\"", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("gave up after %v, want about 200ms", d)
	}
	var pe *events.PushError
	if err := p.Push(context.Background(), srv.URL+"/moved", "Bearer x", "a.b.c"); !errors.As(err, &pe) || pe.Status != http.StatusTemporaryRedirect {
		t.Errorf("redirect: %v, want a refusal with status 307", err)
	}
	if followed.Load() != 0 {
		t.Error("the redirect was followed")
	}
}

// TestPushKeepsConnectionPerStream: as many streams as the worker
// delivers at once, all to one receiver host, each pushing a batch of SETs
// one after another, then all idle together (as between batches, while the
// worker gathers events), keep their connections: none is closed for lack
// of room among the idle connections, to be dialled (with https, its TLS
// handshake made) again for the next batch.
func TestPushKeepsConnectionPerStream(t *testing.T) {
	url, conns, reqs, open := leanReceiverOpen(t)
	p := events.NewPusher(5*time.Second, true)
	ep, err := events.NewEndpoint(url, "Bearer x")
	if err != nil {
		t.Fatal(err)
	}
	const streams, batches, each = 8, 5, 5
	for range batches {
		var wg sync.WaitGroup
		for range streams {
			wg.Go(func() {
				for range each {
					if err := p.PushTo(context.Background(), ep, "a.b.c"); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		time.Sleep(20 * time.Millisecond) // every connection idle
	}
	// Every connection is idle now. The pusher keeps one per stream; it
	// may have dialled a few more while connections changed hands (those
	// it closes), but it must not have closed any it needed. (The
	// receiver sees a close a moment after the pusher makes it.)
	want := min(conns.Load(), streams)
	for deadline := time.Now().Add(2 * time.Second); open.Load() != want && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if open.Load() != want || reqs.Load() != streams*batches*each {
		t.Errorf("%d connections kept of %d dialled (%d requests), want %d kept", open.Load(), conns.Load(), reqs.Load(), want)
	}
}
