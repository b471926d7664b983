package main

import (
	"errors"
	"fmt"

	"github.com/latchkey/latchkey/models"
	"github.com/spf13/cobra"
)

func (a *app) userCommand() *cobra.Command {
	return group(&cobra.Command{Use: "user", Short: "Manage users"}, a.userCreateCommand())
}

func (a *app) userCreateCommand() *cobra.Command {
	var username, role string
	cmd := &cobra.Command{
		Use:   "create --username U --role admin|auditor|user",
		Short: "Create a user; the password is read from stdin (one line)",
		Long: `Create a user. The password is read from stdin, one line, so that it stays
out of the shell history and the process list:

  printf '%s\n' "$PASSWORD" | latchkey user create --username alice --role user

Roles: admin (uses the dashboard and acts), auditor (reads the dashboard),
user (authorizes clients).`,
		Args: noArgs,
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			r, err := models.ParseRole(role)
			if err != nil {
				return usagef("--role must be admin, auditor or user")
			}
			if a.stdinIsTerminal() {
				// Someone is typing: say what is awaited (it will echo).
				fmt.Fprintf(a.stderr, "Password for %s (one line, shown as typed): ", username)
			}
			pw, err := a.readLine()
			if err != nil {
				return err
			}
			if pw == "" {
				return usagef("no password on stdin: give it as one line on standard input")
			}
			ctx := cmd.Context()
			st, _, err := a.openStore(ctx, nil)
			if err != nil {
				return err
			}
			defer st.Close()
			u, err := st.CreateUserAs(ctx, username, r, pw, cliAction)
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
