package models_test

import (
	"context"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// TestRevocationCounters: the core counts every revocation by who asked
// and how it ended, with the grants and tokens it revoked.
func TestRevocationCounters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := modelstest.NewStore(t)
	f := modelstest.NewFixture(t, st)
	revoke := func(req models.RevokeRequest) {
		t.Helper()
		if _, err := st.Revoke(ctx, req); err != nil && req.AsClient != f.Other {
			t.Fatalf("revoke %+v: %v", req, err)
		}
	}
	a := modelstest.IssuePassword(t, st, f.Confidential, f.Alice)
	revoke(models.RevokeRequest{Token: a.AccessToken, AsClient: f.Other, Actor: models.AsClient(f.Other)}) // refused
	revoke(models.RevokeRequest{Token: a.AccessToken, AsClient: f.Confidential, Actor: models.AsClient(f.Confidential)})
	revoke(models.RevokeRequest{Token: a.RefreshToken, AsClient: f.Confidential, Actor: models.AsClient(f.Confidential)}) // nothing left
	revoke(models.RevokeRequest{Token: "lk_at_nope", AsClient: f.Confidential, Actor: models.AsClient(f.Confidential)})
	b := modelstest.IssuePassword(t, st, f.Confidential, f.Alice)
	revoke(models.RevokeRequest{GrantID: b.GrantID, Actor: models.Staff(f.Admin)})
	c := modelstest.IssuePassword(t, st, f.Confidential, f.Bob)
	revoke(models.RevokeRequest{GrantID: c.GrantID, Actor: models.EndUser(f.Bob)})
	modelstest.IssuePassword(t, st, f.Confidential, f.Bob)
	revoke(models.RevokeRequest{UserID: f.Bob.ID, Actor: models.System(), Reason: "command line"})
	d := modelstest.IssuePassword(t, st, f.Confidential, f.Alice)
	if _, err := st.Refresh(ctx, models.RefreshGrant{Client: f.Confidential, RefreshToken: d.RefreshToken}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Refresh(ctx, models.RefreshGrant{Client: f.Confidential, RefreshToken: d.RefreshToken}); err == nil {
		t.Fatal("reuse was accepted")
	}

	s := st.Stats()
	for _, c := range []struct {
		path    models.RevocationPath
		outcome models.RevocationOutcome
		want    int64
	}{
		{models.PathEndpoint, models.OutcomeRefused, 1},
		{models.PathEndpoint, models.OutcomeRevoked, 1},
		{models.PathEndpoint, models.OutcomeNothing, 1},
		{models.PathEndpoint, models.OutcomeUnknown, 1},
		{models.PathDashboard, models.OutcomeRevoked, 1},
		{models.PathSelfService, models.OutcomeRevoked, 1},
		{models.PathCLI, models.OutcomeRevoked, 1},
		{models.PathReuse, models.OutcomeRevoked, 1},
		{models.PathDashboard, models.OutcomeError, 0},
	} {
		if got := s.Revocations[c.path][c.outcome]; got != c.want {
			t.Errorf("%s/%s: got %d, want %d", c.path, c.outcome, got, c.want)
		}
	}
	for path, want := range map[models.RevocationPath][2]int64{
		models.PathEndpoint: {1, 2}, models.PathDashboard: {1, 2}, models.PathSelfService: {1, 2},
		models.PathCLI: {1, 2}, models.PathReuse: {1, 2},
	} {
		if got := [2]int64{s.RevokedGrants[path], s.RevokedTokens[path]}; got != want {
			t.Errorf("%s: revoked grants and tokens %v, want %v", path, got, want)
		}
	}
	if s.UnknownTokenRevocations != 1 {
		t.Errorf("unknown tokens: got %d, want 1", s.UnknownTokenRevocations)
	}
}

// TestModelsExposeCountersOnly: models keeps plain counters (Stats) and
// does not depend on a metrics library; the web layer turns them into
// Prometheus metrics.
func TestModelsExposeCountersOnly(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("glob: %v %v", files, err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if strings.Contains(imp.Path.Value, "prometheus") {
				t.Errorf("%s imports %s", name, imp.Path.Value)
			}
		}
	}
}
