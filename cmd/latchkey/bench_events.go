package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/latchkey/latchkey/events"
	"github.com/latchkey/latchkey/models"
)

// benchEvents compares revocation throughput without an event stream and
// with a live push stream, run by run, and measures commit-to-202 latency
// under that load. Runs alternate (without, with, without, …) so that a
// drift of the machine's speed during the benchmark falls on both alike.
func (a *app) benchEvents(ctx context.Context, o benchOptions, st *models.Store, base string, app *models.CreatedClient, issued []*models.Issued) error {
	// The receiver: an in-process push endpoint that reads the SET and
	// answers 202, as a resource server's would before processing it. It
	// is lean (a keep-alive HTTP/1.1 loop, as the load generator is):
	// a receiver runs on another machine in a deployment, and net/http's
	// server would charge it here about as much CPU per SET as signing it.
	var received atomic.Int64
	rln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go leanReceiver(rln, &received)
	defer rln.Close()
	endpoint := "http://" + rln.Addr().String() + "/events"

	receiver, err := st.CreateClient(ctx, models.NewClient{Name: "Bench Receiver", Type: models.ClientConfidential,
		GrantTypes: []models.GrantType{models.GrantClientCredentials}, SSF: true})
	if err != nil {
		return err
	}

	// The push worker, as serve runs it, reporting each 202's latency.
	var mu sync.Mutex
	var latencies []time.Duration
	recording := atomic.Bool{}
	tx := events.NewTransmitter(st, base)
	tx.AllowPrivatePush = true // the bench's receivers are on loopback
	if _, _, err := tx.Keys().Ensure(ctx); err != nil {
		return err
	}
	wctx, stopWorker := context.WithCancel(ctx)
	workerDone := make(chan struct{})
	go func() {
		defer close(workerDone)
		events.NewWorker(tx, events.WorkerOptions{OnDelivered: func(_ string, d time.Duration) {
			if recording.Load() {
				mu.Lock()
				latencies = append(latencies, d)
				mu.Unlock()
			}
		}}).Run(wctx)
	}()
	defer func() { stopWorker(); <-workerDone }()

	addr := base[len("http://"):]
	revAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(app.Client.ClientID+":"+app.Secret))
	var next atomic.Int64
	revoke := func(c *loadConn) (bool, error) {
		i := int(next.Add(1) - 1)
		if i >= len(issued) {
			return false, errExhausted
		}
		status, _, err := c.post("/o/revoke_token/", revAuth, "token="+issued[i].AccessToken)
		if err != nil || status != 200 {
			return false, fmt.Errorf("status %d: %w", status, err)
		}
		return true, nil
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
	var without, with []float64
	var sent int64
	for run := range 2 * o.runs {
		live := run%2 == 1
		var stream *models.Stream
		if live {
			stream, err = st.CreateStream(ctx, receiver.Client.ID, models.StreamConfig{Method: models.DeliveryPush, EndpointURL: endpoint})
			if err != nil {
				return err
			}
			recording.Store(true)
		}
		before := received.Load()
		c0, w0 := st.BatchStats()
		cpu0 := processCPU()
		res := drive(ctx, o, addr, revoke)
		name := "without a stream"
		if live {
			name = "with a push stream"
			with = append(with, res.rate())
			// Let the stream drain before it is deleted: every event of
			// the run must reach the receiver.
			if err := drain(ctx, st, stream.StreamID, 60*time.Second); err != nil {
				return err
			}
			recording.Store(false)
			sent += received.Load() - before
			if err := st.DeleteStream(ctx, models.AnyOwner, stream.StreamID); err != nil {
				return err
			}
		} else {
			without = append(without, res.rate())
		}
		// The CPU time of the whole process (server, writer, delivery,
		// receiver and load generator) per revocation, the delivery of the
		// run's events included, and the writer's commits: figures that
		// other load on the machine moves far less than the rate.
		cpu := float64(processCPU()-cpu0) / float64(time.Microsecond) / float64(max(1, res.ok))
		c1, w1 := st.BatchStats()
		fmt.Fprintf(a.stdout, "revoke %-18s run %d: %d ok, %d failed in %v: %.0f/s; %.0f CPU-µs per revocation; %d commits of %.1f writes\n",
			name, run/2+1, res.ok, res.failed, res.elapsed.Round(time.Millisecond), res.rate(), cpu, c1-c0, float64(w1-w0)/float64(max(1, c1-c0)))
		if res.ok == 0 {
			return fmt.Errorf("no revocation succeeded; raise --tokens")
		}
	}
	mw, mwith := median(without), median(with)
	fmt.Fprintf(a.stdout, "median revocations/s: %.0f without a stream, %.0f with a push stream (%.1f%%)\n", mw, mwith, 100*mwith/mw)
	slices.Sort(latencies)
	q := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))]
	}
	fmt.Fprintf(a.stdout, "commit to 202 with a push stream: %d SETs delivered (%d received), p50 %v, p99 %v, max %v\n",
		len(latencies), sent, q(0.50).Round(100*time.Microsecond), q(0.99).Round(100*time.Microsecond), q(1).Round(time.Millisecond))
	return nil
}

// drain waits until the stream has no event left to deliver.
func drain(ctx context.Context, st *models.Store, streamID string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		p, err := st.PendingEvents(ctx, streamID, 1)
		if err != nil {
			return err
		}
		if len(p) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the push stream still had events to deliver %v after the run", limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// leanReceiver answers every HTTP/1.1 request on ln with 202 Accepted
// after reading its body, and counts the bodies that look like a compact
// JWS (three base64url parts). It serves until ln is closed.
func leanReceiver(ln net.Listener, received *atomic.Int64) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			r, w := bufio.NewReaderSize(c, 8192), bufio.NewWriterSize(c, 512)
			body := make([]byte, 0, 2048)
			for {
				n := -1
				for {
					line, err := r.ReadSlice('\n')
					if err != nil {
						return
					}
					if len(line) <= 2 {
						break
					}
					if k, v, ok := bytes.Cut(line, []byte(":")); ok && strings.EqualFold(string(k), "content-length") {
						if n, err = strconv.Atoi(string(bytes.TrimSpace(v))); err != nil {
							return
						}
					}
				}
				if n < 0 || n > 1<<20 {
					return
				}
				body = body[:n]
				if _, err := io.ReadFull(r, body); err != nil {
					return
				}
				if bytes.Count(body, []byte(".")) == 2 {
					received.Add(1)
				}
				w.WriteString("HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
				if err := w.Flush(); err != nil {
					return
				}
			}
		}()
	}
}
