package main

import (
	"errors"
	"fmt"

	"github.com/latchkey/latchkey/models"
	"github.com/spf13/cobra"
)

func (a *app) userCommand() *cobra.Command {
	return group(&cobra.Command{Use: "user", Short: "Manage users"}, a.userCreateCommand(), a.userListCommand())
}

func (a *app) userCreateCommand() *cobra.Command {
	var username, role string
	cmd := &cobra.Command{
		Use:   "create --username U --role admin|auditor|user",
		Short: "Create a user; the password is read from stdin (one line)",
		Long: `Create a user. The password is read from stdin, so that it stays out of the
shell history and the process list: from a terminal it is asked for twice and
not shown; from a pipe or a file it is one line:

  printf '%s\n' "$PASSWORD" | latchkey user create --username alice --role user

Roles: admin (uses the dashboard and acts), auditor (reads the dashboard),
user (authorizes clients).`,
		Args: noArgs,
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			r, err := models.ParseRole(role)
			if err != nil {
				return usagef("--role must be admin, auditor or user")
			}
			ctx := cmd.Context()
			pw, err := a.readSecret(ctx, fmt.Sprintf("Password for %s (not shown): ", username))
			if err != nil {
				return err
			}
			if pw == "" {
				return usagef("no password on stdin: give it as one line on standard input")
			}
			if _, typing := terminalFd(a.stdin); typing {
				// Typed unseen, a typo would go unnoticed: ask again.
				again, err := a.readSecret(ctx, "The same password again: ")
				if err != nil {
					return err
				}
				if again != pw {
					return usagef("the two passwords differ; no user was created")
				}
			}
			st, _, err := a.openStore(ctx, nil)
			if err != nil {
				return err
			}
			defer st.Close()
			u, err := st.CreateUserAs(ctx, username, r, pw, a.cliAction())
			if errors.Is(err, models.ErrAlreadyExists) {
				return failure{fmt.Errorf("user %q already exists", username)}
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "created user %s (%s)\n", u.Username, u.Role)
			return nil
		}),
	}
	cmd.Flags().StringVar(&username, "username", "", "the login name")
	cmd.Flags().StringVar(&role, "role", "", "admin, auditor or user")
	cmd.MarkFlagRequired("username")
	cmd.MarkFlagRequired("role")
	return cmd
}
