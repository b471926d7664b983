package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/models"
)

// benchFillCommand is `latchkey bench fill`: a new SQLite database with n
// filler tokens, for measuring a server (`bench --target`) at a given
// table size. It refuses a file that exists, so it cannot touch real data.
func (a *app) benchFillCommand() *cobra.Command {
	var n int
	cmd := &cobra.Command{
		Use:   "fill",
		Short: "Create a new SQLite database (--db) holding N filler tokens, for benchmarks at scale",
		Long: `fill creates the SQLite file named by --db, which must not exist yet, applies
the migrations, and adds --tokens filler tokens of a client named "Filler":
half access and half refresh tokens, one grant per pair, a tenth revoked.
Nobody holds them (their hashes are random); they are there so that the
tables and indexes have the size being measured. Create the bench client
and start the server on the file afterwards.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n < 2 || n > 100_000_000 {
				return usagef("--tokens must be between 2 and 100000000")
			}
			if strings.Contains(a.db, "://") {
				return usagef("fill creates a SQLite file; --db must be a path")
			}
			if _, err := os.Stat(a.db); !errors.Is(err, fs.ErrNotExist) {
				return usagef("%s exists: fill only creates a new database", a.db)
			}
			ctx := cmd.Context()
			st, _, err := a.openStore(ctx, nil)
			if err != nil {
				return err
			}
			defer st.Close()
			c, err := st.CreateClient(ctx, models.NewClient{Name: "Filler", Type: models.ClientConfidential,
				GrantTypes: []models.GrantType{models.GrantClientCredentials}})
			if err != nil {
				return err
			}
			start := time.Now()
			err = st.FillTokens(ctx, c.Client, n, func(done int) {
				fmt.Fprintf(a.stdout, "  %d tokens (%s)\n", done, time.Since(start).Round(time.Second))
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "filled %s with %d tokens in %s\n", a.db, n/2*2, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	cmd.Flags().IntVar(&n, "tokens", 1_000_000, "filler tokens to add")
	return cmd
}
