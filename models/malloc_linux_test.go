//go:build linux && cgo && !race

// Not under the race detector: its shadow memory takes page faults of its
// own, which hide the ones this test counts. .ci/run runs the test in a
// pass of its own without it.

package models_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
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

// TestCHeapHasAnArenaPerCPU checks the C heap's arena limit
// (models/malloc_linux.go, arenaCap): many threads reading through
// SQLite at once, as a loaded server's are, must share one arena per CPU.
// Without the limit glibc gives each new thread that mallocs an arena of
// its own, up to eight per CPU, each keeping its own freed memory.
func TestCHeapHasAnArenaPerCPU(t *testing.T) {
	modelstest.SkipOnPostgres(t)
	limit := models.ArenaCapForTest()
	if limit == 0 {
		t.Skip("the C heap's arena limit was not set (not glibc, or MALLOC_ARENA_MAX or GLIBC_TUNABLES set): nothing to check")
	}
	threads := runtime.NumCPU() + 8
	arenas := readOnThreads(t, threads)
	t.Logf("C heap arenas: %d after %d threads read (limit %d)", arenas, threads, limit)
	if arenas < 1 {
		t.Fatalf("malloc_info reported %d arenas", arenas)
	}
	if arenas > limit {
		t.Errorf("%d C heap arenas after %d threads read through SQLite; want at most %d (one per CPU)", arenas, threads, limit)
	}
}

// TestCHeapArenaLimitGivenByTheOperator checks that MALLOC_ARENA_MAX and
// malloc.arena_max in GLIBC_TUNABLES, set by the operator, win over
// Latchkey's limit: a child test process started with each reports no
// limit of its own, and as many arenas as the operator allowed.
func TestCHeapArenaLimitGivenByTheOperator(t *testing.T) {
	modelstest.SkipOnPostgres(t)
	if os.Getenv("LATCHKEY_TEST_ARENA_CHILD") == "1" {
		fmt.Printf("limit=%d arenas=%d\n", models.ArenaCapForTest(), readOnThreads(t, runtime.NumCPU()+10))
		return
	}
	if models.ArenaCapForTest() == 0 {
		t.Skip("the C heap's arena limit was not set here (not glibc, or the operator's own set): nothing to compare with")
	}
	want := runtime.NumCPU() + 3 // not Latchkey's limit, and under the threads the child starts
	for _, env := range []string{
		"MALLOC_ARENA_MAX=" + strconv.Itoa(want),
		"GLIBC_TUNABLES=glibc.malloc.arena_max=" + strconv.Itoa(want),
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCHeapArenaLimitGivenByTheOperator$", "-test.count=1")
		cmd.Env = append(os.Environ(), "LATCHKEY_TEST_ARENA_CHILD=1", env)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: child: %v\n%s", env, err, out)
		}
		m := regexp.MustCompile(`limit=(\d+) arenas=(-?\d+)`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("%s: child said\n%s", env, out)
		}
		t.Logf("%s: Latchkey's limit %s, %s arenas", env, m[1], m[2])
		if string(m[1]) != "0" || string(m[2]) != strconv.Itoa(want) {
			t.Errorf("%s: Latchkey's limit %s and %s arenas; want 0 and %d (the operator's)", env, m[1], m[2], want)
		}
	}
}

// readOnThreads reads through SQLite on n OS threads at once, each held
// until all have read, and returns how many arenas the C heap has then.
func readOnThreads(t *testing.T, n int) int {
	t.Helper()
	ctx := context.Background()
	st := modelstest.NewStore(t)
	f := modelstest.NewFixture(t, st)
	var raws []string
	for range 50 {
		raws = append(raws, modelstest.IssuePassword(t, st, f.Confidential, f.Alice).AccessToken)
	}
	var read, wg sync.WaitGroup
	read.Add(n)
	for g := range n {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			for i := range raws {
				if _, err := st.ActiveToken(ctx, raws[(g+i)%len(raws)]); err != nil {
					t.Errorf("active token: %v", err)
					break
				}
			}
			read.Done()
			read.Wait()
		})
	}
	wg.Wait()
	return models.MallocArenasForTest()
}
