package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) migrateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending database migrations and exit",
		Long: `Apply pending database migrations and exit. Every other command does this
too; migrate is for deployments that migrate in a separate step. Replicas
starting together on one PostgreSQL apply each migration once.`,
		Args: noArgs,
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, n, err := a.openStore(ctx, nil)
			if err != nil {
				return err
			}
			defer st.Close()
			v, err := st.SchemaVersion(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "applied %s (schema version %d)\n", plural(n, "migration"), v)
			return nil
		}),
	}
}
