//go:build linux && cgo

package models_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// TestCHeapHasAnArenaPerCPU checks the C heap's arena limit
// (models/malloc_linux.go, arenaCap): many threads reading through
// SQLite at once, as a loaded server's are, must share one arena per CPU
// the process may run on. Without the limit glibc gives each new thread
// that mallocs an arena of its own, up to eight per CPU, each keeping its
// own freed memory.
func TestCHeapHasAnArenaPerCPU(t *testing.T) {
	modelstest.SkipOnPostgres(t)
	limit, lowered := arenaLimit(t)
	if want := min(runtime.NumCPU(), runtime.GOMAXPROCS(0)); limit != want {
		t.Errorf("arena limit %d; want %d (the lower of the CPUs in the affinity mask, %d, and GOMAXPROCS, %d)", limit, want, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	}
	threads := runtime.NumCPU() + 8
	arenas := readOnThreads(t, threads)
	t.Logf("C heap arenas: %d after %d threads read (limit %d; %d when the package lowered it)", arenas, threads, limit, lowered)
	if arenas < 1 {
		t.Fatalf("malloc_info reported %d arenas", arenas)
	}
	if arenas > max(limit, lowered) {
		t.Errorf("%d C heap arenas after %d threads read through SQLite; want at most %d (one per CPU)", arenas, threads, max(limit, lowered))
	}
}

// TestCHeapArenaLimitFollowsGOMAXPROCS checks the limit of a process
// given fewer CPUs than its affinity mask names, as a container's CPU
// quota does through GOMAXPROCS: a child test process started with
// GOMAXPROCS=1 sets a limit of 1, and its threads share the arenas made
// before the package loaded.
func TestCHeapArenaLimitFollowsGOMAXPROCS(t *testing.T) {
	modelstest.SkipOnPostgres(t)
	arenaLimit(t)
	if runtime.NumCPU() < 2 {
		t.Skip("one CPU: GOMAXPROCS=1 cannot lower the limit")
	}
	limit, lowered, arenas := arenaChild(t, "GOMAXPROCS=1")
	if limit != 1 || lowered < 1 || arenas > max(1, lowered) {
		t.Errorf("GOMAXPROCS=1: limit %d, %d arenas when lowered, %d after the reads; want 1, at least 1, and no more after than when lowered", limit, lowered, arenas)
	}
}

// TestCHeapArenaLimitGivenByTheOperator checks that MALLOC_ARENA_MAX and
// malloc.arena_max in GLIBC_TUNABLES, set by the operator, win over
// Latchkey's limit: a child test process started with each reports no
// limit of its own, and as many arenas as the operator allowed.
func TestCHeapArenaLimitGivenByTheOperator(t *testing.T) {
	modelstest.SkipOnPostgres(t)
	arenaLimit(t)
	want := runtime.NumCPU() + 3 // not Latchkey's limit, and under the threads the child starts
	for _, env := range []string{
		"MALLOC_ARENA_MAX=" + strconv.Itoa(want),
		"GLIBC_TUNABLES=glibc.malloc.arena_max=" + strconv.Itoa(want),
	} {
		limit, _, arenas := arenaChild(t, env)
		if limit != 0 || arenas != want {
			t.Errorf("%s: Latchkey's limit %d and %d arenas; want 0 and %d (the operator's)", env, limit, arenas, want)
		}
	}
}

// TestCHeapArenaChild is the child process of the tests above: it reads
// on many threads and prints the limit and the arenas.
func TestCHeapArenaChild(t *testing.T) {
	if os.Getenv("LATCHKEY_TEST_ARENA_CHILD") != "1" {
		t.Skip("run by the C heap arena tests as their child process")
	}
	limit, lowered := models.ArenaCapForTest()
	arenas := readOnThreads(t, runtime.NumCPU()+10)
	fmt.Printf("limit=%d lowered=%d arenas=%d\n", limit, lowered, arenas)
}

// arenaLimit returns the process's arena limit and the arenas there were
// when the package lowered it. It skips where there is no limit to check
// (not glibc, or the operator set one), and fails where there should be
// one and is not.
func arenaLimit(t *testing.T) (limit, lowered int) {
	t.Helper()
	if models.MallocArenasForTest() < 0 {
		t.Skip("the C library is not glibc: no arena limit to check")
	}
	if _, ok := os.LookupEnv("MALLOC_ARENA_MAX"); ok || strings.Contains(os.Getenv("GLIBC_TUNABLES"), "malloc.arena_max") {
		t.Skip("MALLOC_ARENA_MAX or malloc.arena_max in GLIBC_TUNABLES is set: the operator's limit applies")
	}
	limit, lowered = models.ArenaCapForTest()
	if limit == 0 {
		t.Fatal("glibc, and neither MALLOC_ARENA_MAX nor GLIBC_TUNABLES set, yet no arena limit was set")
	}
	return limit, lowered
}

// arenaChild runs TestCHeapArenaChild in a child test process with env
// added, and returns what it printed.
func arenaChild(t *testing.T, env string) (limit, lowered, arenas int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCHeapArenaChild$", "-test.count=1", "-test.timeout=60s")
	cmd.Env = append(os.Environ(), "LATCHKEY_TEST_ARENA_CHILD=1", env)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: child: %v\n%s", env, err, out)
	}
	m := regexp.MustCompile(`limit=(\d+) lowered=(\d+) arenas=(-?\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("%s: the child said\n%s", env, out)
	}
	limit, _ = strconv.Atoi(string(m[1]))
	lowered, _ = strconv.Atoi(string(m[2]))
	arenas, _ = strconv.Atoi(string(m[3]))
	t.Logf("%s: limit %d, %d arenas when lowered, %d after the reads", env, limit, lowered, arenas)
	return limit, lowered, arenas
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
