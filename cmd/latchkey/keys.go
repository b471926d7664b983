package main

import (
	"fmt"
	"strings"

	"github.com/latchkey/latchkey/events"
	"github.com/spf13/cobra"
)

func (a *app) keysCommand() *cobra.Command {
	return group(&cobra.Command{Use: "keys", Short: "Manage the keys that sign revocation events"}, a.keysRotateCommand())
}

func (a *app) keysRotateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rotate",
		Short: "Add a new event signing key that signs from now on; the old one stays published for a day",
		Long: `Generate a new ECDSA P-256 key for signing revocation events (ES256 SETs) and
make it the signing key at once. Running servers pick it up within a second.

The old key is retired, not deleted: it stays in the JWK Set at /o/jwks/ for
` + events.RetiredKeyTTL.String() + `, so that a receiver verifying a SET it took before the
rotation still finds the key. Every SET is signed when it is sent, so after
the rotation nothing new is signed with the old key. Keys retired longer ago
are deleted.`,
		Args: noArgs,
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, _, err := a.openStore(ctx, nil)
			if err != nil {
				return err
			}
			defer st.Close()
			kid, retired, err := events.NewKeys(st).Rotate(ctx, a.cliAction())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "new signing key: %s\n", kid)
			if len(retired) > 0 {
				fmt.Fprintf(a.stdout, "still published until %s after their retirement: %s\n", events.RetiredKeyTTL, strings.Join(retired, ", "))
			}
			return nil
		}),
	}
}
