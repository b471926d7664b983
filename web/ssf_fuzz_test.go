package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzSSFRequests sends arbitrary JSON bodies and methods to the SSF
// endpoints as a receiver: whatever the input, the answer is never a 5xx,
// and an error is JSON with an error code.
func FuzzSSFRequests(f *testing.F) {
	paths := []string{"/ssf/stream", "/ssf/status", "/ssf/verify", "/ssf/poll/$S", "/ssf/stream?stream_id=$S", "/ssf/status?stream_id=$S"}
	for _, s := range []struct {
		path         uint8
		method, body string
	}{
		{0, "POST", `{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"https://rs.example/ev"}}`},
		{0, "POST", `{"delivery":{"method":"urn:ietf:rfc:8936"},"events_requested":["x"],"aud":["a"]}`},
		{0, "PATCH", `{"stream_id":"$S","description":"d","delivery":{"method":"urn:ietf:rfc:8936","endpoint_url":"x"}}`},
		{0, "PUT", `{"stream_id":"$S","delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"http://[::1"}}`},
		{1, "POST", `{"stream_id":"$S","status":"paused","reason":"r"}`},
		{2, "POST", `{"stream_id":"$S","state":"s"}`},
		{3, "POST", `{"maxEvents":0,"ack":["a.$S"],"setErrs":{"b":{"err":"x"}},"returnImmediately":true}`},
		{3, "POST", `{"maxEvents":1e99}`},
		{5, "GET", ``},
		{0, "POST", `{"delivery":null}`},
		{0, "POST", "\x00"},
		// Bodies the server decodes with returnImmediately unset or false,
		// which a test of the text alone let through to a 25 s wait: the
		// fuzzing worker's 10 s limit then killed it.
		{3, "POST", `{"returnImmediately":false}}`},
		{3, "POST", `{"returnImmediately" : false}`},
		{3, "POST", `{"returnImmediately":null}`},
		{3, "POST", `{"returnImmediately":true,"returnImmediately":false}`},
		{3, "POST", `{"RETURNIMMEDIATELY":false,"returnImmediately":0}`},
		{4, "DELETE", ``}, // last, though the stream comes back (below)
	} {
		f.Add(s.path, s.method, s.body)
	}
	es := newEventServerWith(f, false) // no worker: a fuzzed stream must not push anywhere
	s := es.pollStream(f)
	f.Fuzz(func(t *testing.T, path uint8, method, body string) {
		if !validMethod(method) || method == "" || method == "CONNECT" {
			return
		}
		p := strings.ReplaceAll(paths[int(path)%len(paths)], "$S", s.StreamID)
		body = strings.ReplaceAll(body, "$S", s.StreamID)
		if strings.HasPrefix(p, "/ssf/poll/") && wouldLongPoll(body) {
			body = `{"returnImmediately":true}` // a long poll would wait 25 s
		}
		status, raw := es.callWithin(t, 8*time.Second, method, p, body)
		if method == "DELETE" && status < 300 && strings.HasPrefix(p, "/ssf/stream") {
			// Without its stream every later poll, status and update
			// would stop at a 404.
			s = es.pollStream(t)
		}
		if status >= 500 {
			t.Fatalf("%s %s %q: %d %s", method, p, body, status, raw)
		}
		if status >= 400 && method != "HEAD" {
			var e map[string]any
			if json.Unmarshal(raw, &e) != nil || e["error"] == nil {
				t.Fatalf("%s %s %q: %d with %q, want a JSON error", method, p, body, status, raw)
			}
		}
	})
}

// wouldLongPoll reports whether PollStream would wait for events on body:
// the server's decoder (json.Decoder, one value, matching names without
// regard to case) accepts it and leaves returnImmediately unset or false.
// A body it refuses is answered at once, so it keeps its place in the fuzz.
// Type errors elsewhere in the body and data after the first value are
// not looked at here, which only means a few refused bodies are replaced
// too.
func wouldLongPoll(body string) bool {
	var r struct {
		ReturnImmediately *bool `json:"returnImmediately"`
	}
	if json.NewDecoder(strings.NewReader(body)).Decode(&r) != nil {
		return false
	}
	return r.ReturnImmediately == nil || !*r.ReturnImmediately
}

// callWithin is es.call with the receiver's bearer and a deadline: a fuzzed
// request that outlasts it fails as a finding, with its input, instead of
// running into the fuzzing worker's own 10 s limit, which kills the worker
// and reports only "hung or terminated unexpectedly".
func (es *eventServer) callWithin(t *testing.T, d time.Duration, method, path, body string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, es.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+es.bearer)
	resp, err := es.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s %q: %v", method, path, body, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s %q: reading the answer: %v", method, path, body, err)
	}
	return resp.StatusCode, raw
}
