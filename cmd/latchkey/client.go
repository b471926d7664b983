package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/latchkey/latchkey/models"
	"github.com/spf13/cobra"
)

func (a *app) clientCommand() *cobra.Command {
	return group(&cobra.Command{Use: "client", Short: "Manage OAuth clients"}, a.clientCreateCommand(), a.clientListCommand())
}

func (a *app) clientCreateCommand() *cobra.Command {
	var (
		n          models.NewClient
		typ        string
		grants     []string
		asJSON     bool
		grantNames = make([]string, len(models.AllGrantTypes))
	)
	for i, g := range models.AllGrantTypes {
		grantNames[i] = string(g)
	}
	cmd := &cobra.Command{
		Use:   "create --name N --type confidential|public --grant G[,G…] [--redirect-uri URI]… [--scope S] [--allowed-origin O]… [--introspect] [--ssf] [--json]",
		Short: "Register a client and print its client_id and, once, its secret",
		Long: `Register an OAuth client and print its client_id and, for a confidential
client, its client_secret. The secret is shown this once: Latchkey keeps only
a hash of it.

Grants (comma-separated or repeated): ` + strings.Join(grantNames, ", ") + `.
Without --scope the client may ask for "` + models.DefaultScope + `".
--introspect marks a resource server allowed to introspect every client's tokens.
--ssf lets the client manage revocation event streams (OpenID SSF 1.0) with
a bearer token from client_credentials: give it that grant too.
--json prints {"client_id": …, "client_secret": …, "type": …, "grants": […]};
a public client has no client_secret key.`,
		Args: noArgs,
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			if !oneOf(typ, models.ClientConfidential, models.ClientPublic) {
				return usagef("--type must be confidential or public")
			}
			n.Type = models.ClientType(typ)
			n.GrantTypes = nil
			for _, g := range grants {
				g = strings.TrimSpace(g)
				if !oneOf(g, models.AllGrantTypes...) {
					return usagef("--grant %q is not one of %s", g, strings.Join(grantNames, ", "))
				}
				if !slices.Contains(n.GrantTypes, models.GrantType(g)) {
					n.GrantTypes = append(n.GrantTypes, models.GrantType(g))
				}
			}
			if err := validateClient(n); err != nil {
				return err
			}
			ctx := cmd.Context()
			st, _, err := a.openStore(ctx, nil)
			if err != nil {
				return err
			}
			defer st.Close()
			created, err := st.CreateClientAs(ctx, n, a.cliAction())
			if err != nil {
				return err
			}
			if asJSON {
				return a.printClientJSON(created)
			}
			a.printClient(created)
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&n.Name, "name", "", "a name people recognise")
	f.StringVar(&typ, "type", "", "confidential (can keep a secret) or public (cannot: mobile and browser apps)")
	f.StringSliceVar(&grants, "grant", nil, "grant types: "+strings.Join(grantNames, ", "))
	f.StringArrayVar(&n.RedirectURIs, "redirect-uri", nil, "a redirect URI for authorization_code (repeatable)")
	f.StringVar(&n.Scope, "scope", "", `space-separated scopes the client may ask for (default "`+models.DefaultScope+`")`)
	f.StringArrayVar(&n.AllowedOrigins, "allowed-origin", nil, "a browser origin allowed to call the revocation endpoint (repeatable)")
	f.BoolVar(&n.Introspect, "introspect", false, "may introspect tokens of every client (a resource server)")
	f.BoolVar(&n.SSF, "ssf", false, "may manage revocation event streams (an SSF receiver)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	cmd.MarkFlagRequired("name")
	cmd.MarkFlagRequired("type")
	cmd.MarkFlagRequired("grant")
	return cmd
}

// validateClient checks the registration before the database is opened,
// with the models' own rules.
func validateClient(n models.NewClient) error {
	if n.Scope == "" {
		n.Scope = models.DefaultScope
	}
	err := n.Validate()
	var ve *models.ValidationError
	if errors.As(err, &ve) {
		if flag, ok := clientFlags[ve.Field]; ok {
			return usagef("%s: %s", flag, ve.Message)
		}
	}
	if err != nil {
		return usageError{err}
	}
	return nil
}

// clientFlags names the flag of each field a client registration is
// validated on, so that a refusal says which flag to fix.
var clientFlags = map[string]string{"name": "--name", "type": "--type", "grant_types": "--grant",
	"redirect_uris": "--redirect-uri", "scope": "--scope", "allowed_origins": "--allowed-origin"}

func (a *app) printClient(c *models.CreatedClient) {
	fmt.Fprintf(a.stdout, "created %s client %q\n", c.Client.Type, c.Client.Name)
	fmt.Fprintf(a.stdout, "client_id:     %s\n", c.Client.ClientID)
	if c.Secret == "" {
		fmt.Fprintln(a.stdout, "client_secret: none (a public client authenticates with its client_id alone, and uses PKCE)")
		return
	}
	fmt.Fprintf(a.stdout, "client_secret: %s\n", c.Secret)
	fmt.Fprintln(a.stdout, "This client secret is shown only this once: store it now. Latchkey keeps only a hash of it.")
}

// printClientJSON prints one JSON object and a newline, spaced like this:
// {"client_id": "…", "client_secret": "…", "type": "…", "grants": […]}.
// A public client has no secret, so its object has no client_secret key.
func (a *app) printClientJSON(c *models.CreatedClient) error {
	str := func(v any) string {
		b, _ := json.Marshal(v) // strings and string slices always marshal
		return string(b)
	}
	grants := strings.Fields(c.Client.GrantTypes)
	quoted := make([]string, len(grants))
	for i, g := range grants {
		quoted[i] = str(g)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `{"client_id": %s`, str(c.Client.ClientID))
	if c.Secret != "" {
		fmt.Fprintf(&b, `, "client_secret": %s`, str(c.Secret))
	}
	fmt.Fprintf(&b, `, "type": %s, "grants": [%s]}`+"\n", str(c.Client.Type), strings.Join(quoted, ", "))
	_, err := fmt.Fprint(a.stdout, b.String())
	return err
}
