package models

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWriterConnectionReplaced: the writer's hot statements are prepared
// on its driver connection (hotWriter). Should database/sql let that
// connection go, as it does when a transaction on it ends with its
// context (the readiness probe's, when the prober hangs up), the next
// batch prepares them again on the new connection, writes go on, and the
// old connection is freed, its files closed: mattn's driver leaves a
// closed connection open as long as a statement of it is not finalized.
func TestWriterConnectionReplaced(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "w.db")
	st, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	cc, err := st.CreateClient(ctx, NewClient{Name: "App", Type: ClientConfidential, GrantTypes: []GrantType{GrantClientCredentials}})
	if err != nil {
		t.Fatal(err)
	}
	issue := func() *Issued {
		t.Helper()
		iss, err := st.IssueGrant(ctx, StartGrant{Client: cc.Client, GrantType: GrantClientCredentials, Scope: "read"})
		if err != nil {
			t.Fatal(err)
		}
		return iss
	}
	first := issue()
	before := openFiles(t, path)
	old := st.hw.dc
	if old == nil {
		t.Fatal("the hot statements are not prepared on the writer connection")
	}

	cctx, cancel := context.WithCancel(ctx)
	if _, err := st.wdb.BeginTx(cctx, nil); err != nil {
		t.Fatal(err)
	}
	cancel()
	for deadline := time.Now().Add(5 * time.Second); st.wdb.Stats().OpenConnections != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("database/sql kept the writer connection after its transaction's context ended")
		}
	}

	second := issue()
	if st.hw.dc == old {
		t.Fatal("the hot statements were not prepared again on the new writer connection")
	}
	res, err := st.Revoke(ctx, RevokeRequest{Token: first.AccessToken, AsClient: cc.Client, Actor: AsClient(cc.Client), RequestID: "after"})
	if err != nil || res != (RevokeResult{Grants: 1, Tokens: 1}) {
		t.Fatalf("revocation on the new connection: %+v, %v", res, err)
	}
	if _, err := st.ActiveToken(ctx, first.AccessToken); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoked token: %v, want ErrNotFound", err)
	}
	if _, err := st.ActiveToken(ctx, second.AccessToken); err != nil {
		t.Errorf("token issued on the new connection: %v", err)
	}
	if after := openFiles(t, path); after != before {
		t.Errorf("%d descriptors open on the WAL after the writer connection was replaced, %d before: the old connection was not freed", after, before)
	}
}

// openFiles counts this process's file descriptors open on the WAL of the
// database at path: one for each open connection. (Not the database
// file's: SQLite defers closing a connection's descriptor of it while
// other connections of the process hold locks on the file, since closing
// any descriptor would drop them.)
func openFiles(t *testing.T, path string) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot list open files here: %v", err)
	}
	n := 0
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && target == path+"-wal" {
			n++
		}
	}
	return n
}
