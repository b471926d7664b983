// Command latchkey runs the Latchkey OAuth 2.0 authorization server and
// administers its database from the shell: users, clients, revocation,
// purging dead tokens and migrations. `latchkey help` lists the commands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, a second one kills at once.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// app is what every command shares: its input, outputs and environment.
// run builds a fresh one each time, so tests run commands in parallel
// without global state.
type app struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	db     string // --db or LATCHKEY_DB

	// currentUser is who runs the command, for the audit trail.
	currentUser func() (*user.User, error)
}

// run executes one command line and returns the exit status: 0 on success,
// 2 on a usage error, 1 otherwise. An error is one line on stderr.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if args == nil {
		args = []string{} // nil would make cobra read os.Args
	}
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv, currentUser: user.Current}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "latchkey: %s\n", errorLine(err))
	return exitCode(err)
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "latchkey",
		Short: "Latchkey is an OAuth 2.0 authorization server built around revocation",
		Long: `Latchkey is an OAuth 2.0 authorization server (RFC 6749) built around
revocation (RFC 7009).

Every command reads the database from --db or LATCHKEY_DB (a SQLite file,
or a postgres:// URL) and applies pending migrations itself.
Exit status: 0 on success, 2 on a usage error, 1 otherwise.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.flagsFromEnv(cmd.Flags(), [][2]string{{"db", "LATCHKEY_DB"}}); err != nil {
				return err
			}
			if a.db == "" {
				return usagef("--db must name a SQLite file or a postgres:// URL")
			}
			return nil
		},
	}
	root.CompletionOptions.HiddenDefaultCmd = true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	group(root)
	root.PersistentFlags().StringVar(&a.db, "db", "latchkey.db", "SQLite file or postgres:// URL (env LATCHKEY_DB)")
	root.AddCommand(
		a.serveCommand(),
		a.userCommand(),
		a.clientCommand(),
		a.revokeCommand(),
		a.tokensCommand(),
		a.migrateCommand(),
		a.keysCommand(),
		a.benchCommand(),
		a.guardCommand(),
	)
	return root
}

// group makes cmd a command that only holds subcommands: alone it prints
// its help; followed by an unknown word it is a usage error (cobra would
// otherwise print the help and succeed).
func group(cmd *cobra.Command, subs ...*cobra.Command) *cobra.Command {
	cmd.Args = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
		if s := c.SuggestionsFor(args[0]); len(s) > 0 {
			msg += fmt.Sprintf(" (did you mean %q?)", s[0])
		}
		return usageError{fmt.Errorf("%s", msg)}
	}
	cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
	cmd.AddCommand(subs...)
	return cmd
}
