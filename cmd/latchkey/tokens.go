package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func (a *app) tokensCommand() *cobra.Command {
	return group(&cobra.Command{Use: "tokens", Short: "Maintain issued tokens"}, a.tokensPurgeCommand())
}

func (a *app) tokensPurgeCommand() *cobra.Command {
	var olderThan time.Duration
	cmd := &cobra.Command{
		Use:   "purge [--older-than 720h]",
		Short: "Delete tokens that expired or were revoked longer ago than --older-than",
		Long: `Delete tokens that expired or were revoked longer ago than --older-than, and
authorization codes and browser sessions that expired as long ago. Audit events
and grants stay. A refresh token retired by a refresh is kept until it expires,
so that presenting it again is still detected as reuse. Rows go in small
batches, so a running server is not held up.`,
		Args: noArgs,
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			if olderThan < 0 {
				return usagef("--older-than must not be negative")
			}
			ctx := cmd.Context()
			st, _, err := a.openStore(ctx, nil)
			if err != nil {
				return err
			}
			defer st.Close()
			res, err := st.PurgeTokens(ctx, olderThan)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "deleted %s, %s and %s that expired or were revoked before %s\n",
				plural(res.Tokens, "token"), plural(res.Codes, "code"), plural(res.Sessions, "session"),
				res.Before.UTC().Format(time.RFC3339))
			return nil
		}),
	}
	cmd.Flags().DurationVar(&olderThan, "older-than", 720*time.Hour, "how long a token must have been dead")
	return cmd
}
