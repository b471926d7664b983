package web_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
	"github.com/latchkey/latchkey/web"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// floodPhase is how long each phase of BenchmarkLoginFlood measures.
const floodPhase = 3 * time.Second

// BenchmarkLoginFlood measures client_credentials issuance (p50, one client
// issuing tokens back to back over real HTTP) alone, then while 16
// connections post wrong passwords to /login as fast as they are answered,
// and reports both medians and their ratio. Passwords are hashed at
// bcrypt's default cost, as in production. Two floods are measured:
//
//   - one address: every connection comes from 127.0.0.1 and guesses at
//     "alice" — the throttle answers 429 before hashing;
//   - 16 addresses: each connection comes from its own 127.0.0.x and
//     guesses a fresh username every time — each address gets 100 hashed
//     failures before its own 429s, so the bounded hashing pool is what
//     keeps the token endpoint responsive;
//   - one address with 429s answered at once (ThrottleHold < 0), to show
//     what holding them is for.
//
// Run it alone (other tests lower bcrypt's cost for speed):
//
//	go test ./web -run '^$' -bench LoginFlood -benchtime 1x -count 5
func BenchmarkLoginFlood(b *testing.B) {
	for _, flood := range []struct {
		name  string
		addrs int
		hold  time.Duration
	}{{"one address", 1, 0}, {"16 addresses", 16, 0}, {"one address, 429s not held", 1, -1}} {
		b.Run(flood.name, func(b *testing.B) {
			st, err := models.Open(filepath.Join(b.TempDir(), "latchkey.db"), models.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			if _, err := st.Migrate(context.Background()); err != nil {
				b.Fatal(err)
			}
			f := modelstest.NewFixture(b, st)
			if !strings.HasPrefix(f.Alice.PasswordHash, "$2a$10$") {
				b.Skip("bcrypt's cost was lowered by a test in this run; run the benchmark alone")
			}
			ts := startServer(b, st, f, web.Config{ThrottleHold: flood.hold}, nil)
			cfg := clientcredentials.Config{ClientID: f.Confidential.ClientID, ClientSecret: f.Secret, TokenURL: ts.URL + "/o/token/"}
			ccClient := &http.Client{Transport: &http.Transport{}}
			ctx := context.WithValue(context.Background(), oauth2.HTTPClient, ccClient)
			measure := func() time.Duration {
				var lat []time.Duration
				for end := time.Now().Add(floodPhase); time.Now().Before(end); {
					t0 := time.Now()
					if _, err := cfg.Token(ctx); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(t0))
				}
				slices.Sort(lat)
				return lat[len(lat)/2]
			}
			measure() // warm up
			unloaded := measure()

			stop := make(chan struct{})
			var wg sync.WaitGroup
			var answered, throttled atomic.Int64
			for i := range 16 {
				from := "127.0.0.1"
				if flood.addrs > 1 {
					from = fmt.Sprintf("127.0.0.%d", 10+i)
				}
				wg.Go(func() { floodLogins(b, ts.URL, from, i, flood.addrs > 1, stop, &answered, &throttled) })
			}
			time.Sleep(500 * time.Millisecond)
			checks0 := st.Stats().PasswordChecks
			loaded := measure()
			checks := st.Stats().PasswordChecks - checks0
			close(stop)
			wg.Wait()
			ratio := float64(loaded) / float64(unloaded)
			b.ReportMetric(float64(unloaded.Microseconds())/1000, "p50-unloaded-ms")
			b.ReportMetric(float64(loaded.Microseconds())/1000, "p50-flood-ms")
			b.ReportMetric(ratio, "ratio")
			b.ReportMetric(float64(answered.Load())/(floodPhase+500*time.Millisecond).Seconds(), "logins/s")
			b.ReportMetric(float64(checks)/floodPhase.Seconds(), "hashes/s")
			b.Logf("unloaded p50 %v, under flood %v (%.2fx); %d wrong logins answered, %d of them 429",
				unloaded, loaded, ratio, answered.Load(), throttled.Load())
		})
	}
}

// floodLogins posts wrong passwords to /login from the local address from,
// on one connection with a valid CSRF pair, until stop closes.
func floodLogins(b *testing.B, base, from string, n int, freshNames bool, stop <-chan struct{}, answered, throttled *atomic.Int64) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Transport: &http.Transport{DialContext: d.DialContext, MaxConnsPerHost: 1}}
	resp, err := c.Get(base + "/login")
	if err != nil {
		b.Error(err)
		return
	}
	html, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	form := formFields(b, string(html), "/login")
	form.Set("password", "not the password")
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		user := "alice"
		if freshNames {
			user = fmt.Sprintf("guess-%d-%d", n, i)
		}
		form.Set("username", user)
		resp, err := c.Post(base+"/login", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		if err != nil {
			b.Error(err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusTooManyRequests:
			throttled.Add(1)
		case http.StatusUnauthorized, http.StatusServiceUnavailable: // 503: the hashing pool stayed full
		default:
			b.Errorf("wrong login answered %d", resp.StatusCode)
			return
		}
		answered.Add(1)
	}
}
