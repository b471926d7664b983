package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/latchkey/latchkey/models"
	"github.com/spf13/cobra"
)

func (a *app) revokeCommand() *cobra.Command {
	var username, clientID, token, reason string
	cmd := &cobra.Command{
		Use:   "revoke (--user U [--client ID] | --client ID | --token -) [--reason R]",
		Short: "Revoke grants and their tokens through the revocation core",
		Long: `Revoke from the shell, through the same core as every other revocation: each
grant selected is revoked whole (every access and refresh token in its chain),
and one audit event records it, with the actor "system".

  --user U               all of the user's grants
  --user U --client ID   the user's grants at one client (its client_id)
  --client ID            all of the client's grants
  --token -              the grant of the token read from stdin (one line);
                         a token is never taken from the command line, where it
                         would land in the shell history and the process list`,
		Args: noArgs,
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			byToken := f.Changed("token")
			switch {
			case byToken && token != "-":
				// Never echo the value: it may be a token.
				return usagef("--token takes only \"-\" and reads the token from stdin: tokens are never read from the command line")
			case byToken && (f.Changed("user") || f.Changed("client")):
				return usagef("--token cannot be combined with --user or --client")
			case !byToken && !f.Changed("user") && !f.Changed("client"):
				return usagef("say what to revoke: --user U [--client ID], --client ID or --token -")
			case f.Changed("user") && username == "":
				return usagef("--user needs a username")
			case f.Changed("client") && clientID == "":
				return usagef("--client needs a client_id")
			}
			req := models.RevokeRequest{Actor: cliAction.Actor, Reason: reason, Remote: cliAction.Remote}
			if byToken {
				line, err := a.readLine()
				if err != nil {
					return err
				}
				req.Token = strings.TrimSpace(line)
				if req.Token == "" {
					return usagef("no token on stdin: give it as one line on standard input")
				}
			}
			ctx := cmd.Context()
			st, _, err := a.openStore(ctx, nil)
			if err != nil {
				return err
			}
			defer st.Close()
			if username != "" {
				u, err := st.UserByUsername(ctx, username)
				if errors.Is(err, models.ErrNotFound) {
					return fmt.Errorf("user %q not found", username)
				}
				if err != nil {
					return err
				}
				req.UserID = u.ID
			}
			if clientID != "" {
				c, err := st.ClientByClientID(ctx, clientID)
				if errors.Is(err, models.ErrNotFound) {
					return fmt.Errorf("client %q not found (give its client_id)", clientID)
				}
				if err != nil {
					return err
				}
				req.ClientID = c.ID
			}
			res, err := st.Revoke(ctx, req)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "revoked %s and %s\n", plural(res.Grants, "grant"), plural(res.Tokens, "token"))
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&username, "user", "", "revoke the grants of this user (a username)")
	f.StringVar(&clientID, "client", "", "revoke the grants of this client (a client_id)")
	f.StringVar(&token, "token", "", `"-": read one token from stdin and revoke its grant`)
	f.StringVar(&reason, "reason", "command line", "why, for the audit trail")
	return cmd
}
