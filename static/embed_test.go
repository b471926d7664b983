package static

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// hash8 reads a file from disk, not through the package, so the test checks
// the package against the real content.
func hash8(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:8]
}

func TestPath(t *testing.T) {
	tests := []struct {
		name string
		got  string
		file string // on disk, relative to this package
	}{
		{name: "site stylesheet", got: Path("app.css"), file: "app.css"},
		{name: "site script", got: Path("app.js"), file: "app.js"},
		{name: "htmx", got: HTMXPath(), file: htmxName},
		{name: "pico", got: PicoPath(), file: picoName},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := "/static/" + hash8(t, tc.file) + "/" + tc.file
			if tc.got != want {
				t.Errorf("got %v, want %v", tc.got, want)
			}
		})
	}
}

func TestPathUnknownName(t *testing.T) {
	if got, want := Path("nope.css"), "/static/missing/nope.css"; got != want {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestVendorNamesCarryVersions(t *testing.T) {
	tests := []struct {
		name, got, prefix string
	}{
		{name: "htmx 2", got: HTMXPath(), prefix: "vendor/htmx-2."},
		{name: "pico 2", got: PicoPath(), prefix: "vendor/pico-2."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, name, _ := strings.Cut(strings.TrimPrefix(tc.got, "/static/"), "/"); !strings.HasPrefix(name, tc.prefix) {
				t.Errorf("got %v, want a name starting with %v", tc.got, tc.prefix)
			}
		})
	}
}

func TestHandler(t *testing.T) {
	css, err := os.ReadFile("app.css")
	if err != nil {
		t.Fatal(err)
	}
	htmx, err := os.ReadFile(htmxName)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		method      string
		url         string
		header      map[string]string
		wantStatus  int
		wantType    string
		wantCache   string
		wantBody    []byte // checked when non-nil
		wantNoBody  bool
		wantAllowed string
	}{
		{
			name: "stylesheet is served immutable", method: http.MethodGet, url: Path("app.css"),
			wantStatus: 200, wantType: "text/css; charset=utf-8",
			wantCache: "public, max-age=31536000, immutable", wantBody: css,
		},
		{
			name: "vendored script is served immutable", method: http.MethodGet, url: HTMXPath(),
			wantStatus: 200, wantType: "text/javascript; charset=utf-8",
			wantCache: "public, max-age=31536000, immutable", wantBody: htmx,
		},
		{
			name: "head sends headers without a body", method: http.MethodHead, url: Path("app.css"),
			wantStatus: 200, wantType: "text/css; charset=utf-8",
			wantCache: "public, max-age=31536000, immutable", wantNoBody: true,
		},
		{
			name: "a matching etag answers not modified", method: http.MethodGet, url: Path("app.css"),
			header:     map[string]string{"If-None-Match": etagOf(t, "app.css")},
			wantStatus: 304, wantCache: "public, max-age=31536000, immutable", wantNoBody: true,
		},
		{name: "a wrong hash is not found", method: http.MethodGet, url: "/static/00000000/app.css", wantStatus: 404},
		{name: "a missing hash is not found", method: http.MethodGet, url: "/static/app.css", wantStatus: 404},
		{name: "an unknown name is not found", method: http.MethodGet, url: Path("nope.css"), wantStatus: 404},
		{name: "the readme is not embedded", method: http.MethodGet, url: "/static/" + hash8(t, "vendor/README.md") + "/vendor/README.md", wantStatus: 404},
		{name: "a path outside the prefix is not found", method: http.MethodGet, url: "/app.css", wantStatus: 404},
		{name: "post is not allowed", method: http.MethodPost, url: Path("app.css"), wantStatus: 405, wantAllowed: "GET, HEAD"},
	}
	h := Handler()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.url, nil)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			res := rec.Result()
			body, _ := io.ReadAll(res.Body)

			if res.StatusCode != tc.wantStatus {
				t.Fatalf("status: got %v, want %v", res.StatusCode, tc.wantStatus)
			}
			if got := res.Header.Get("Cache-Control"); tc.wantCache != "" && got != tc.wantCache {
				t.Errorf("Cache-Control: got %v, want %v", got, tc.wantCache)
			}
			if tc.wantStatus != 200 && tc.wantStatus != 304 && strings.Contains(res.Header.Get("Cache-Control"), "immutable") {
				t.Errorf("Cache-Control: got immutable on a %v", res.StatusCode)
			}
			if got := res.Header.Get("Content-Type"); tc.wantType != "" && got != tc.wantType {
				t.Errorf("Content-Type: got %v, want %v", got, tc.wantType)
			}
			if tc.wantBody != nil && string(body) != string(tc.wantBody) {
				t.Errorf("body: got %d bytes, want the %d bytes of the file", len(body), len(tc.wantBody))
			}
			if tc.wantNoBody && len(body) != 0 {
				t.Errorf("body: got %d bytes, want none", len(body))
			}
			if got := res.Header.Get("Allow"); tc.wantAllowed != "" && got != tc.wantAllowed {
				t.Errorf("Allow: got %v, want %v", got, tc.wantAllowed)
			}
		})
	}
}

func etagOf(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}
