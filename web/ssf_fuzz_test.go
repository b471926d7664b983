package web_test

import (
	"encoding/json"
	"strings"
	"testing"
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
		{4, "DELETE", ``},
		{1, "POST", `{"stream_id":"$S","status":"paused","reason":"r"}`},
		{2, "POST", `{"stream_id":"$S","state":"s"}`},
		{3, "POST", `{"maxEvents":0,"ack":["a.$S"],"setErrs":{"b":{"err":"x"}},"returnImmediately":true}`},
		{3, "POST", `{"maxEvents":1e99}`},
		{5, "GET", ``},
		{0, "POST", `{"delivery":null}`},
		{0, "POST", "\x00"},
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
		if strings.Contains(body, `"returnImmediately":false`) || (strings.HasPrefix(p, "/ssf/poll/") && !strings.Contains(body, "returnImmediately")) {
			body = `{"returnImmediately":true}` // a long poll would wait 25 s
		}
		status, raw, _ := es.call(t, method, p, es.bearer, body)
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
