package models_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// TestCodeExchangedOnce races eight exchanges of one code: exactly one gets
// tokens, on both databases (PostgreSQL runs them concurrently; the
// conditional update decides).
func TestCodeExchangedOnce(t *testing.T) {
	t.Parallel()
	for _, be := range modelstest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := be.New(t)
			f := modelstest.NewFixture(t, st)
			for round := range 5 {
				code, err := st.CreateCode(ctx, models.NewCode{Client: f.Confidential, UserID: f.Alice.ID,
					RedirectURI: "http://127.0.0.1:9999/callback", Scope: "read"})
				if err != nil {
					t.Fatal(err)
				}
				var wg sync.WaitGroup
				var mu sync.Mutex
				won, lost := 0, 0
				for range 8 {
					wg.Go(func() {
						_, err := st.ExchangeCode(ctx, models.ExchangeCode{Client: f.Confidential, Code: code})
						mu.Lock()
						defer mu.Unlock()
						switch {
						case err == nil:
							won++
						case errors.Is(err, models.ErrInvalidGrant):
							lost++
						default:
							t.Errorf("exchange: %v", err)
						}
					})
				}
				wg.Wait()
				if won != 1 || lost != 7 {
					t.Fatalf("round %d: %d exchanges succeeded and %d were refused; want 1 and 7", round, won, lost)
				}
			}
		})
	}
}
