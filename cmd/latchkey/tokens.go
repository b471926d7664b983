package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/models"
	"github.com/spf13/cobra"
)

func (a *app) tokensCommand() *cobra.Command {
	return group(&cobra.Command{Use: "tokens", Short: "Maintain issued tokens"}, a.tokensPurgeCommand())
}

func (a *app) tokensPurgeCommand() *cobra.Command {
	olderThan := age(models.DefaultPurgeAfter)
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "purge [--older-than 720h] [--dry-run]",
		Short: "Delete tokens, codes and grants that expired or were revoked longer ago than --older-than",
		Long: `Delete tokens that expired or were revoked longer ago than --older-than (a Go
duration such as 720h, or days such as 30d), authorization codes, browser
sessions and setup links that expired as long ago, and grants that expired or
were revoked as long ago and have no token left. Audit events stay.

A refresh token retired by a refresh, and a used authorization code, are kept
until they expire, so that presenting one again is still detected as reuse;
their grant stays with them. Rows go in small batches, so a running server is
not held up. A running server also purges by itself (serve --purge-after); on
PostgreSQL one purge runs at a time, and this command then says it skipped.

--dry-run counts what would be deleted, per table, and deletes nothing.`,
		Args: noArgs,
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, _, err := a.openStore(ctx, nil)
			if err != nil {
				return err
			}
			defer st.Close()
			res, err := st.Purge(ctx, models.PurgeOptions{OlderThan: time.Duration(olderThan), DryRun: dryRun})
			if errors.Is(err, models.ErrPurgeBusy) {
				return errors.New("skipped: another replica is purging; try again in a few minutes")
			}
			if err != nil {
				return err
			}
			verb := "deleted"
			if res.DryRun {
				verb = "dry run, nothing deleted: would delete"
			}
			fmt.Fprintf(a.stdout, "%s %s, %s, %s, %s and %s that expired or were revoked before %s\n", verb,
				plural(res.Tokens, "token"), plural(res.Codes, "code"), plural(res.Sessions, "session"),
				plural(res.SetupTokens, "setup link"), plural(res.Grants, "grant"), res.Before.UTC().Format(time.RFC3339))
			fmt.Fprintf(a.stdout, "%s %s older than that, and %s\n", verb,
				plural(res.Events, "revocation event"), plural(res.SigningKeys, "retired signing key"))
			return nil
		}),
	}
	cmd.Flags().Var(&olderThan, "older-than", "how long a row must have been dead: a duration (720h) or days (30d)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print what would be deleted, per table, and delete nothing")
	return cmd
}

// age is a flag value for how long ago something happened: a Go duration
// ("720h", "90m") or a whole number of days ("30d"), which Go's durations
// lack. It is never negative.
type age time.Duration

func (d *age) String() string {
	v := time.Duration(*d)
	if v != 0 && v%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", v/(24*time.Hour))
	}
	return v.String()
}

func (d *age) Set(s string) error {
	s = strings.TrimSpace(s)
	var v time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 32)
		if err != nil || n > 100*365 {
			return fmt.Errorf("want a duration such as 720h or a number of days such as 30d")
		}
		v = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		v, err = time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("want a duration such as 720h or a number of days such as 30d")
		}
	}
	if v < 0 {
		return fmt.Errorf("must not be negative")
	}
	*d = age(v)
	return nil
}

func (d *age) Type() string { return "age" }
