package handlers

import "testing"

// TestCSVSafe pins the formula guard applied to cells whose text came from
// outside (which columns get it is csvOurs; web's
// TestAuditCSVKeepsIdentifiers checks the export end to end).
func TestCSVSafe(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"plain text", "left the company", "left the company"},
		{"typed username that computes", "-1-1", "'-1-1"},
		{"typed username naming a cell", "-A1", "'-A1"},
		{"underscore", "_abc", "_abc"},
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
