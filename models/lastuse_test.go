package models_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// TestTouchGrantFromManyGoroutines: uses noted at once from many
// goroutines, over grants that fall in every shard of the throttle, are all
// written by one flush, each grant once, and a later use within the minute
// queues nothing more.
func TestTouchGrantFromManyGoroutines(t *testing.T) {
	t.Parallel()
	st := modelstest.NewStore(t)
	f := modelstest.NewFixture(t, st)
	ctx := context.Background()
	var grants []int64
	for range 40 { // more than the shards, so that several share one
		grants = append(grants, modelstest.IssuePassword(t, st, f.Confidential, f.Alice).GrantID)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i, g := range grants {
				seen := models.Seen{}
				if (i+w)%3 == 0 {
					seen = models.Seen{Addr: "192.0.2.7", UserAgent: "test"}
				}
				st.TouchGrant(g, seen)
			}
		})
	}
	wg.Wait()
	st.FlushLastUse()
	for _, g := range grants {
		gr, err := st.GrantByID(ctx, g)
		if err != nil {
			t.Fatal(err)
		}
		if gr.LastUsedAt == nil {
			t.Fatalf("grant %d: last use not written", g)
		}
	}
}

// TestLastUseMemoryIsBounded: noting hundreds of thousands of distinct
// grants within one minute does not grow the heap with them; which grants
// were queued is a fixed table, not a map of every grant used in the
// minute. Not parallel: it reads the whole process's heap.
func TestLastUseMemoryIsBounded(t *testing.T) {
	st := modelstest.NewStore(t)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	st.TouchGrant(1, models.Seen{})
	st.FlushLastUse()
	before := heap()
	const grants = 300_000
	for id := int64(2); id < grants; id++ {
		st.TouchGrant(id, models.Seen{})
		if id%20_000 == 0 {
			st.FlushLastUse()
		}
	}
	st.FlushLastUse()
	if grew := int64(heap()) - int64(before); grew > 3<<20 {
		t.Errorf("noting %d grants grew the heap by %d bytes; want a bound that does not depend on the grants", grants, grew)
	}
}

// TestTouchGrantKeepsAddressAfterCollision: a grant noted with its
// holder's address, whose slot in the table of queued grants another grant
// then takes, keeps that address when it is noted again without one
// (introspection) before the flush: the write carries the address, as it
// does when no other grant shares the slot.
func TestTouchGrantKeepsAddressAfterCollision(t *testing.T) {
	t.Parallel()
	st := modelstest.NewStore(t)
	f := modelstest.NewFixture(t, st)
	ctx := context.Background()
	g := modelstest.IssuePassword(t, st, f.Confidential, f.Alice).GrantID
	st.TouchGrant(g, models.Seen{Addr: "192.0.2.7", UserAgent: "app"})
	st.TouchGrant(g+models.LastUseSlotsForTest, models.Seen{}) // same slot, another grant
	st.TouchGrant(g, models.Seen{})                            // introspection
	st.FlushLastUse()
	got, err := st.RawForTest(ctx, fmt.Sprintf("SELECT last_seen_addr FROM grants WHERE id = %d", g))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "192.0.2.7" {
		t.Errorf("last_seen_addr = %q, want 192.0.2.7", got)
	}
}
