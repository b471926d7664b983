package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/latchkey/latchkey/models"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
)

// usageError is a mistake in how a command was called: an unknown command
// or flag, a bad flag value, a missing flag, an invalid role or grant, a
// password too short. It exits with status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// failure is an error met while doing what was asked, such as a name that
// already exists or a database that cannot be reached. It exits with
// status 1.
type failure struct{ err error }

func (e failure) Error() string { return e.err.Error() }
func (e failure) Unwrap() error { return e.err }

// exitCode maps an error to the exit status. Errors that no action
// classified come from cobra itself before any action ran — an unknown
// command, a wrong number of arguments, a missing required flag — and are
// usage errors.
func exitCode(err error) int {
	var f failure
	switch {
	case err == nil:
		return 0
	case errors.As(err, &f):
		return 1
	default:
		return 2
	}
}

// action wraps a command's work so that every error it returns is
// classified: the models' validation errors are usage errors (the caller
// typed something wrong); anything else not already a usage error is a
// failure.
func action(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := fn(cmd, args)
		var u usageError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &u):
			return err
		case errors.Is(err, models.ErrInvalid), errors.Is(err, models.ErrPasswordTooShort), errors.Is(err, models.ErrPasswordTooLong):
			return usageError{err}
		default:
			return failure{err}
		}
	}
}

// errorLine renders err as the one line printed after "latchkey: ": the
// models' package prefixes are dropped, and line breaks cannot split it.
func errorLine(err error) string {
	if errors.Is(err, context.Canceled) {
		return "interrupted"
	}
	msg := err.Error()
	msg = strings.ReplaceAll(msg, "models: invalid: ", "")
	msg = strings.ReplaceAll(msg, "models: ", "")
	return strings.Join(strings.Fields(msg), " ")
}

// cliAction is who the command line is in the audit trail: the
// operating-system user who ran it, as "cli:<user>", from the address
// "cli". Whoever has a shell on the server and the database is not a
// dashboard account, but an auditor must still be able to tell who it was.
func (a *app) cliAction() models.StaffAction {
	return models.StaffAction{Actor: models.CLI(osUserName(a.currentUser, a.getenv, os.Getuid())), Reason: "command line", Remote: "cli"}
}

// osUserName names the operating-system user running the command: the
// account of the process's uid, or else $USER or $LOGNAME (a uid without
// a passwd entry, as in some containers), or else the uid itself. The name
// is made one printable line of at most 64 bytes, for the audit trail.
func osUserName(current func() (*user.User, error), getenv func(string) string, uid int) string {
	name := ""
	if current != nil {
		if u, err := current(); err == nil {
			name = u.Username
		}
	}
	for _, env := range []string{"USER", "LOGNAME"} {
		if name == "" {
			name = getenv(env)
		}
	}
	name = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return '_'
		}
		return r
	}, strings.ToValidUTF8(name, "_"))
	for len(name) > 64 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if name == "" {
		return fmt.Sprintf("uid=%d", uid)
	}
	return name
}

// noArgs refuses positional arguments: every input is a flag (and secrets
// come on stdin).
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q (see %s --help)", args[0], cmd.CommandPath())
	}
	return nil
}

// flagsFromEnv gives each flag that was not set on the command line the
// value of its environment variable, if that is set, parsed as the flag
// would parse it. The command line wins; a bad value is a usage error that
// names the variable.
func (a *app) flagsFromEnv(fs *pflag.FlagSet, pairs [][2]string) error {
	for _, p := range pairs {
		name, env := p[0], p[1]
		v := a.getenv(env)
		if v == "" || fs.Changed(name) {
			continue
		}
		if err := fs.Set(name, v); err != nil {
			return usagef("%s: %v", env, err)
		}
	}
	return nil
}

// openStore opens the database named by --db and applies pending
// migrations, as every command does first. It returns how many it applied.
func (a *app) openStore(ctx context.Context, log *slog.Logger) (*models.Store, int, error) {
	st, err := models.Open(a.db, models.Options{Logger: log})
	if err != nil {
		return nil, 0, err
	}
	n, err := st.Migrate(ctx)
	if err != nil {
		st.Close()
		return nil, 0, err
	}
	return st, n, nil
}

// readLine reads one line from stdin, without its line ending: how secrets
// reach the command line tool, so that they stay out of argv, the shell
// history and the process list.
func (a *app) readLine() (string, error) {
	if a.stdin == nil {
		return "", nil
	}
	line, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read stdin: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// terminalFd returns the file descriptor of r if r is a terminal: a person
// typing, rather than a pipe or a file feeding the command.
func terminalFd(r io.Reader) (int, bool) {
	f, ok := r.(*os.File)
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

// readSecret reads a password or a token from stdin. From a terminal it
// prompts on stderr and reads without echo, so that the secret is not left
// on the screen or in its scrollback; from a pipe or a file it reads one
// line. Interrupted (Ctrl-C), it gives the terminal its echo back first.
func (a *app) readSecret(ctx context.Context, prompt string) (string, error) {
	fd, ok := terminalFd(a.stdin)
	if !ok {
		return a.readLine()
	}
	state, err := term.GetState(fd)
	if err != nil {
		return "", fmt.Errorf("read terminal: %w", err)
	}
	fmt.Fprint(a.stderr, prompt)
	type read struct {
		b   []byte
		err error
	}
	done := make(chan read, 1)
	go func() {
		b, err := term.ReadPassword(fd)
		done <- read{b, err}
	}()
	select {
	case r := <-done:
		fmt.Fprintln(a.stderr) // the Enter typed was not echoed either
		if r.err != nil {
			return "", fmt.Errorf("read terminal: %w", r.err)
		}
		return strings.TrimRight(string(r.b), "\r\n"), nil
	case <-ctx.Done():
		_ = term.Restore(fd, state)
		fmt.Fprintln(a.stderr)
		return "", ctx.Err()
	}
}

// plural returns "1 grant" or "2 grants".
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// oneOf reports whether s is among allowed, for enum flags.
func oneOf[S ~string](s string, allowed ...S) bool {
	return slices.Contains(allowed, S(s))
}
