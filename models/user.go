package models

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"gorm.io/gorm"
)

// Role is what a user may do: admins act on the dashboard, auditors read
// it, users only authorize clients.
type Role string

// The roles.
const (
	RoleAdmin   Role = "admin"
	RoleAuditor Role = "auditor"
	RoleUser    Role = "user"
)

// ParseRole validates a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleAdmin, RoleAuditor, RoleUser:
		return r, nil
	}
	return "", invalid("role", "Role must be admin, auditor or user, not %q.", s)
}

// IsStaff reports whether the role may open the dashboard.
func (r Role) IsStaff() bool { return r == RoleAdmin || r == RoleAuditor }

// User is a person who logs in: an end user, or a staff member.
type User struct {
	ID           int64
	Username     string
	PasswordHash string
	Role         Role
	DisabledAt   *time.Time
	CreatedAt    time.Time
}

var usernameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,149}$`)

// errInvalidUsername is the refusal of a name usernameRE does not match.
var errInvalidUsername = invalid("username", "Username must be 1-150 letters, digits or . _ @ + -, starting with a letter or digit.")

// CreateUser stores a new user with a bcrypt-hashed password.
func (s *Store) CreateUser(ctx context.Context, username string, role Role, password string) (*User, error) {
	return s.createUser(ctx, username, role, password, nil)
}

// createUser stores a new user and, when ev is set, writes ev (naming the
// new user) in the same transaction.
func (s *Store) createUser(ctx context.Context, username string, role Role, password string, ev *AuditEvent) (*User, error) {
	if !usernameRE.MatchString(username) {
		return nil, errInvalidUsername
	}
	username = FoldUsername(username)
	if _, err := ParseRole(string(role)); err != nil {
		return nil, err
	}
	hash, err := hashPassword(ctx, password)
	if err != nil {
		return nil, err
	}
	u := &User{Username: username, PasswordHash: hash, Role: role, CreatedAt: s.Now()}
	err = s.write(ctx, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Raw("SELECT COUNT(*) FROM users WHERE username = ?", username).Scan(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: user %q", ErrAlreadyExists, username)
		}
		if err := create(tx, u); err != nil {
			return err
		}
		if err := s.countTotal(tx, countUsers, 1); err != nil || ev == nil {
			return err
		}
		e := *ev
		e.UserID = &u.ID
		return s.insertAudit(tx, &e)
	})
	if err != nil {
		return nil, wrapWrite("create user", err)
	}
	return u, nil
}

// Authenticate checks a username (in any case) and password. A disabled or unknown user
// and a wrong password all give ErrBadLogin, in about the same time. The
// bcrypt comparison runs on the bounded hashing pool: ErrBusy when it
// stayed full too long, or ctx's error when the caller gave up.
func (s *Store) Authenticate(ctx context.Context, username, password string) (*User, error) {
	var u User
	if storable(username) {
		err := s.r.WithContext(ctx).Select("id", "username", "password_hash", "role", "disabled_at", "created_at").
			Where("username = ?", FoldUsername(username)).Limit(1).Find(&u).Error
		if err != nil {
			return nil, unavailable("authenticate", err)
		}
	}
	s.counters.passwordChecks.Add(1)
	ok, err := passwordMatches(ctx, u.PasswordHash, password) // an unknown user takes as long
	if err != nil {
		return nil, err
	}
	if !ok || u.DisabledAt != nil {
		return nil, ErrBadLogin
	}
	return &u, nil
}

// UserByID returns one user.
func (s *Store) UserByID(ctx context.Context, id int64) (*User, error) {
	var u User
	res := s.r.WithContext(ctx).Select("id", "username", "password_hash", "role", "disabled_at", "created_at").
		Where("id = ?", id).Limit(1).Find(&u)
	if res.Error != nil {
		return nil, unavailable("user by id", res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, fmt.Errorf("%w: user %d", ErrNotFound, id)
	}
	return &u, nil
}

// UserByUsername returns one user; the name is matched case-insensitively.
func (s *Store) UserByUsername(ctx context.Context, username string) (*User, error) {
	if !storable(username) {
		return nil, fmt.Errorf("%w: user", ErrNotFound)
	}
	var u User
	res := s.r.WithContext(ctx).Select("id", "username", "password_hash", "role", "disabled_at", "created_at").
		Where("username = ?", FoldUsername(username)).Limit(1).Find(&u)
	if res.Error != nil {
		return nil, unavailable("user by username", res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, fmt.Errorf("%w: user %q", ErrNotFound, username)
	}
	return &u, nil
}

// HasAdmin reports whether any admin exists (the first-run setup needs one).
func (s *Store) HasAdmin(ctx context.Context) (bool, error) {
	var n int64
	if err := s.r.WithContext(ctx).Raw("SELECT COUNT(*) FROM users WHERE role = ?", RoleAdmin).Scan(&n).Error; err != nil {
		return false, unavailable("has admin", err)
	}
	return n > 0, nil
}
