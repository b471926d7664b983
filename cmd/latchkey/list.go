package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/latchkey/latchkey/models"
	"github.com/spf13/cobra"
)

// listPage is how many rows each keyset page of a list fetches.
const listPage = 500

func (a *app) userListCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List users, newest first",
		Long: `List users, newest first: one line each (username, role, status, created),
or with --json a JSON array of {"username", "role", "disabled", "disabled_at",
"created_at"}. No password hash is ever printed.`,
		Args: noArgs,
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, _, err := a.openStore(ctx, nil)
			if err != nil {
				return err
			}
			defer st.Close()
			out := a.lister(asJSON, "USERNAME\tROLE\tSTATUS\tCREATED")
			err = eachPage(ctx, st.ListUsers, models.UserFilter{}, func(u models.UserRow) error {
				if asJSON {
					return out.json(userJSON{Username: u.Username, Role: u.Role, Disabled: u.DisabledAt != nil,
						DisabledAt: utc(u.DisabledAt), CreatedAt: u.CreatedAt.UTC()})
				}
				return out.line(u.Username, string(u.Role), status(u.DisabledAt), stamp(u.CreatedAt))
			})
			return out.close(err)
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

func (a *app) clientListCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List clients, newest first",
		Long: `List clients, newest first: one line each (client_id, name, type, grants,
scope, introspect, status, created, redirect URIs), or with --json a JSON array
of {"client_id", "name", "type", "grants", "scopes", "redirect_uris",
"allowed_origins", "introspect", "disabled", "disabled_at", "created_at"}.
No secret, and no hash of one, is ever printed.`,
		Args: noArgs,
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, _, err := a.openStore(ctx, nil)
			if err != nil {
				return err
			}
			defer st.Close()
			out := a.lister(asJSON, "CLIENT_ID\tNAME\tTYPE\tGRANTS\tSCOPE\tINTROSPECT\tSTATUS\tCREATED\tREDIRECT_URIS")
			list := func(ctx context.Context, _ struct{}, cur models.Cursor, limit int) (models.Page[models.ClientRow], error) {
				return st.ListClients(ctx, cur, limit)
			}
			err = eachPage(ctx, list, struct{}{}, func(c models.ClientRow) error {
				if asJSON {
					return out.json(clientJSON{ClientID: c.ClientID, Name: c.Name, Type: c.Type,
						Grants: fields(c.GrantTypes), Scopes: fields(c.Scope), RedirectURIs: fields(c.RedirectURIs),
						AllowedOrigins: fields(c.AllowedOrigins), Introspect: c.Introspect,
						Disabled: c.DisabledAt != nil, DisabledAt: utc(c.DisabledAt), CreatedAt: c.CreatedAt.UTC()})
				}
				introspect := "no"
				if c.Introspect {
					introspect = "yes"
				}
				return out.line(c.ClientID, c.Name, string(c.Type), strings.Join(fields(c.GrantTypes), ","),
					c.Scope, introspect, status(c.DisabledAt), stamp(c.CreatedAt), orDash(strings.Join(fields(c.RedirectURIs), " ")))
			})
			return out.close(err)
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

// userJSON is a user as `user list --json` prints it.
type userJSON struct {
	Username   string      `json:"username"`
	Role       models.Role `json:"role"`
	Disabled   bool        `json:"disabled"`
	DisabledAt *time.Time  `json:"disabled_at"`
	CreatedAt  time.Time   `json:"created_at"`
}

// clientJSON is a client as `client list --json` prints it: its public
// settings, never its secret or the secret's hash.
type clientJSON struct {
	ClientID       string            `json:"client_id"`
	Name           string            `json:"name"`
	Type           models.ClientType `json:"type"`
	Grants         []string          `json:"grants"`
	Scopes         []string          `json:"scopes"`
	RedirectURIs   []string          `json:"redirect_uris"`
	AllowedOrigins []string          `json:"allowed_origins"`
	Introspect     bool              `json:"introspect"`
	Disabled       bool              `json:"disabled"`
	DisabledAt     *time.Time        `json:"disabled_at"`
	CreatedAt      time.Time         `json:"created_at"`
}

// eachPage walks a keyset-paginated list to its end, calling fn per row.
func eachPage[F, R any](ctx context.Context, list func(context.Context, F, models.Cursor, int) (models.Page[R], error), f F, fn func(R) error) error {
	cur := models.Cursor{}
	for {
		page, err := list(ctx, f, cur, listPage)
		if err != nil {
			return err
		}
		for _, r := range page.Rows {
			if err := fn(r); err != nil {
				return err
			}
		}
		if !page.HasNext {
			return nil
		}
		cur = page.Next
	}
}

// lister prints a list: aligned columns under a header, or a JSON array
// with one element a line, written as it is read.
type lister struct {
	a      *app
	asJSON bool
	tw     *tabwriter.Writer
	n      int
}

func (a *app) lister(asJSON bool, header string) *lister {
	l := &lister{a: a, asJSON: asJSON}
	if !asJSON {
		l.tw = tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(l.tw, header)
	}
	return l
}

func (l *lister) json(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	sep := ",\n"
	if l.n == 0 {
		sep = "[\n"
	}
	l.n++
	_, err = fmt.Fprintf(l.a.stdout, "%s%s", sep, b)
	return err
}

// line prints one row; each cell is made one printable line without tabs,
// so that a name cannot break the row or shift the columns.
func (l *lister) line(cells ...string) error {
	for i, c := range cells {
		cells[i] = strings.Map(func(r rune) rune {
			if !unicode.IsPrint(r) {
				return '?'
			}
			return r
		}, c)
	}
	_, err := fmt.Fprintln(l.tw, strings.Join(cells, "\t"))
	return err
}

// close ends the list. A list that failed part way prints nothing more
// (the error is reported on stderr); a JSON list that was cut short is left
// invalid rather than closed into a valid but incomplete array.
func (l *lister) close(err error) error {
	if err != nil {
		if l.tw != nil {
			l.tw.Flush()
		}
		return err
	}
	if !l.asJSON {
		return l.tw.Flush()
	}
	if l.n == 0 {
		_, err = fmt.Fprintln(l.a.stdout, "[]")
		return err
	}
	_, err = fmt.Fprintln(l.a.stdout, "\n]")
	return err
}

func fields(s string) []string {
	f := strings.Fields(s)
	if f == nil {
		return []string{}
	}
	return f
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func status(disabledAt *time.Time) string {
	if disabledAt != nil {
		return "disabled"
	}
	return "active"
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
