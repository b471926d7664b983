package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/oauth2/clientcredentials"
)

// BenchmarkIssueClientCredentials measures the token endpoint over real
// HTTP: client authentication, a new grant and an access token, durably
// committed, through golang.org/x/oauth2.
func BenchmarkIssueClientCredentials(b *testing.B) {
	ts := newTestServer(b)
	cfg := clientcredentials.Config{ClientID: ts.f.Confidential.ClientID, ClientSecret: ts.f.Secret, TokenURL: ts.URL + "/o/token/"}
	ctx := ts.ctx()
	b.ResetTimer()
	for b.Loop() {
		if _, err := cfg.Token(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIssueClientCredentialsParallel is the same with 64 concurrent
// clients, where group commit lets requests share an fsync.
func BenchmarkIssueClientCredentialsParallel(b *testing.B) {
	ts := newTestServer(b)
	cfg := clientcredentials.Config{ClientID: ts.f.Confidential.ClientID, ClientSecret: ts.f.Secret, TokenURL: ts.URL + "/o/token/"}
	tr := ts.Client().Transport.(*http.Transport)
	tr.MaxIdleConnsPerHost = 128
	ctx := ts.ctx()
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := cfg.Token(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRevokeParallel revokes distinct tokens over real HTTP from 64
// concurrent clients (2 cores × parallelism 32).
func BenchmarkRevokeParallel(b *testing.B) {
	ts := newTestServer(b)
	iss, err := ts.st.BulkIssue(context.Background(), ts.f.Confidential, ts.f.Alice.ID, b.N)
	if err != nil {
		b.Fatal(err)
	}
	tr := ts.Client().Transport.(*http.Transport)
	tr.MaxIdleConnsPerHost = 128
	var next atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			body := url.Values{"token": {iss[i].AccessToken}, "client_id": {ts.f.Confidential.ClientID}, "client_secret": {ts.f.Secret}}.Encode()
			resp, err := ts.Client().Post(ts.URL+"/o/revoke_token/", "application/x-www-form-urlencoded", strings.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

// BenchmarkIntrospectParallel introspects live tokens over real HTTP from
// 64 concurrent clients.
func BenchmarkIntrospectParallel(b *testing.B) {
	ts := newTestServer(b)
	iss, err := ts.st.BulkIssue(context.Background(), ts.f.Confidential, ts.f.Alice.ID, 5000)
	if err != nil {
		b.Fatal(err)
	}
	tr := ts.Client().Transport.(*http.Transport)
	tr.MaxIdleConnsPerHost = 128
	authz := basicAuth(ts.f.Confidential.ClientID, ts.f.Secret)
	var next atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) % int64(len(iss))
			req, _ := http.NewRequest("POST", ts.URL+"/o/introspect/", strings.NewReader("token="+iss[i].AccessToken))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", authz)
			resp, err := ts.Client().Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

// BenchmarkIntrospect introspects live tokens over real HTTP, one request
// at a time, as a resource server authenticating with HTTP Basic: with
// -benchmem, the allocations of one request (the client's included, which
// are the same before and after a server change).
func BenchmarkIntrospect(b *testing.B) {
	ts := newTestServer(b)
	iss, err := ts.st.BulkIssue(context.Background(), ts.f.Confidential, ts.f.Alice.ID, 1000)
	if err != nil {
		b.Fatal(err)
	}
	authz := basicAuth(ts.f.Confidential.ClientID, ts.f.Secret)
	i := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req, _ := http.NewRequest("POST", ts.URL+"/o/introspect/", strings.NewReader("token="+iss[i%len(iss)].AccessToken))
		i++
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", authz)
		resp, err := ts.Client().Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(string(body), `{"active":true,`) {
			b.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	}
}
