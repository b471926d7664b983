package handlers

import "testing"

// TestCSVSafe pins which audit cells get the formula guard: anything a
// spreadsheet would run, never an identifier from the token alphabet.
func TestCSVSafe(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"plain text", "left the company", "left the company"},
		{"client id starting with -", "-9njP2AXhUGTS6usvP0lk-Ng", "-9njP2AXhUGTS6usvP0lk-Ng"},
		{"client id starting with _", "_abc", "_abc"},
		{"negative number", "-12", "-12"},
		{"formula", `=HYPERLINK("https://evil.example","x")`, `'=HYPERLINK("https://evil.example","x")`},
		{"plus", "+1+1", "'+1+1"},
		{"at", "@SUM(A1:A2)", "'@SUM(A1:A2)"},
		{"minus with arithmetic", "-2+3", "'-2+3"},
		{"DDE", `-cmd|' /C calc'!A0`, `'-cmd|' /C calc'!A0`},
		{"minus with a range", "-A1:B2", "'-A1:B2"},
		{"tab", "\t=1", "'\t=1"},
		{"carriage return", "\r=1", "'\r=1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := csvSafe(tc.in); got != tc.want {
				t.Errorf("csvSafe(%q): got %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
