//go:build linux && cgo && !race

// Not under the race detector: its shadow memory takes page faults of its
// own, which hide the ones this test counts. .ci/run runs the test in a
// pass of its own without it.

package models_test

import (
	"context"
	"sync"
	"syscall"
	"testing"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// TestRevocationsDoNotFaultInTheirMemory checks the C heap's settings
// (models/malloc_linux.go): revocations batched by the writer, from
// several goroutines at once as /o/revoke_token/ takes them, must run on
// memory the process keeps, not on pages the C heap gave back to the
// kernel after the last batch and faults in again. It counts the
// process's minor page faults per revocation; with glibc's default trim
// threshold the server took 6-7 per revocation under load.
func TestRevocationsDoNotFaultInTheirMemory(t *testing.T) {
	modelstest.SkipOnPostgres(t)
	ctx := context.Background()
	st := modelstest.NewStore(t)
	if !models.HeapKeptForTest() {
		t.Skip("the C heap's settings were not applied (not glibc, or MALLOC_TRIM_THRESHOLD_, MALLOC_TOP_PAD_ or GLIBC_TUNABLES set): nothing to check")
	}
	f := modelstest.NewFixture(t, st)
	var raws []string
	for range 3000 {
		raws = append(raws, modelstest.IssuePassword(t, st, f.Confidential, f.Alice).AccessToken)
	}
	revoke := func(raws []string) {
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Go(func() {
				for i := g; i < len(raws); i += 16 {
					res, err := st.Revoke(ctx, models.RevokeRequest{Token: raws[i], AsClient: f.Confidential, Actor: models.AsClient(f.Confidential)})
					if err != nil || res.Tokens == 0 {
						t.Errorf("revoke: %+v, %v", res, err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	revoke(raws[:1000]) // warm: the heap reaches its working size
	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	revoke(raws[1000:])
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	per := float64(after.Minflt-before.Minflt) / float64(len(raws)-1000)
	t.Logf("minor page faults per revocation: %.2f (heap kept: %v)", per, models.HeapKeptForTest())
	if per > 1 {
		t.Errorf("%.2f minor page faults per revocation; want the memory kept (heap kept: %v)", per, models.HeapKeptForTest())
	}
}
