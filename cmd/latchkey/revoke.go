package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

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
and one audit event records it, with the actor "cli:<operating-system user>".

  --user U               all of the user's grants
  --user U --client ID   the user's grants at one client (its client_id)
  --client ID            all of the client's grants
  --token -              the grant of the token read from stdin (one line);
                         a token is never taken from the command line, where it
                         would land in the shell history and the process list

A token Latchkey does not know is an error (exit 1, "not found"); one whose
grant is already revoked or expired is not (exit 0, and the output says so).`,
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
			by := a.cliAction()
			req := models.RevokeRequest{Actor: by.Actor, Reason: reason, Remote: by.Remote}
			if byToken {
				line, err := a.readSecret(cmd.Context(), "Token to revoke (not shown): ")
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
			var tok *models.Token
			if req.Token != "" {
				// A client revoking an unknown token hears nothing of it
				// (RFC 7009 §2.2), but staff who typed one must learn that
				// nothing matched: a typo must not pass for a revocation.
				tok, err = st.FindTokenByHash(ctx, models.TokenKey(req.Token))
				if errors.Is(err, models.ErrNotFound) {
					return errors.New("token not found: mistyped, not issued by this Latchkey, or purged")
				}
				if err != nil {
					return err
				}
			}
			res, err := st.Revoke(ctx, req)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "revoked %s and %s%s\n", plural(res.Grants, "grant"), plural(res.Tokens, "token"), alreadyDead(ctx, st, tok, res))
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

// alreadyDead explains why revoking a known token revoked nothing: its
// grant was revoked or had expired before. That is success (exit 0), as a
// second revocation is for a client (RFC 7009 §2.2): the token is unusable,
// which is what was asked, and a script revoking a list of leaked tokens
// must not fail on one revoked already.
func alreadyDead(ctx context.Context, st *models.Store, tok *models.Token, res models.RevokeResult) string {
	if tok == nil || res.Grants > 0 {
		return ""
	}
	g, err := st.GrantByID(ctx, tok.GrantID)
	switch {
	case err != nil:
		return " (the token was no longer active)"
	case g.RevokedAt != nil:
		return fmt.Sprintf(" (the token was already revoked, at %s)", g.RevokedAt.UTC().Format(time.RFC3339))
	default:
		return fmt.Sprintf(" (the token had already expired, at %s)", g.ExpiresAt.UTC().Format(time.RFC3339))
	}
}
