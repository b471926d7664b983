package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Session is a browser login. The cookie holds the raw value; the database
// holds its hash.
type Session struct {
	ID        int64
	Hash      []byte
	UserID    int64
	CreatedAt time.Time
	ExpiresAt time.Time
}

// SessionTTL is how long a login lasts.
const SessionTTL = 12 * time.Hour

// CreateSession logs u in and returns the raw session value for the cookie.
func (s *Store) CreateSession(ctx context.Context, u *User) (string, error) {
	raw := NewSecret(PrefixSession)
	now := s.Now()
	sess := &Session{Hash: HashSecret(raw), UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(SessionTTL)}
	err := s.write(ctx, func(tx *gorm.DB) error {
		if err := create(tx, sess); err != nil {
			return err
		}
		// The users list shows the last login.
		return tx.Exec("UPDATE users SET last_login_at = ? WHERE id = ?", now, u.ID).Error
	})
	if err != nil {
		return "", wrapWrite("create session", err)
	}
	return raw, nil
}

// SessionUser returns the user logged in with the raw session value.
func (s *Store) SessionUser(ctx context.Context, raw string) (*User, error) {
	var u User
	res := s.r.WithContext(ctx).Table("sessions AS s").
		Select("u.id, u.username, u.password_hash, u.role, u.disabled_at, u.created_at").
		Joins("JOIN users u ON u.id = s.user_id").
		Where("s.hash = ? AND s.expires_at > ? AND u.disabled_at IS NULL", HashSecret(raw), s.Now()).
		Limit(1).Scan(&u)
	if res.Error != nil {
		return nil, unavailable("session user", res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, fmt.Errorf("%w: session", ErrNotFound)
	}
	return &u, nil
}

// DeleteSession logs a session out.
func (s *Store) DeleteSession(ctx context.Context, raw string) error {
	err := s.write(ctx, func(tx *gorm.DB) error {
		return tx.Exec("DELETE FROM sessions WHERE hash = ?", HashSecret(raw)).Error
	})
	return wrapWrite("delete session", err)
}

// SetupToken is a one-time link for creating the first admin.
type SetupToken struct {
	ID        int64
	Hash      []byte
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// CreateSetupToken returns a one-time setup value, valid for a day.
func (s *Store) CreateSetupToken(ctx context.Context) (string, error) {
	raw := NewSecret(PrefixSetup)
	now := s.Now()
	st := &SetupToken{Hash: HashSecret(raw), CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
	if err := s.write(ctx, func(tx *gorm.DB) error { return create(tx, st) }); err != nil {
		return "", wrapWrite("create setup token", err)
	}
	return raw, nil
}

// SetupTokenValid reports whether raw is an unused, unexpired setup value
// and no admin exists yet.
func (s *Store) SetupTokenValid(ctx context.Context, raw string) (bool, error) {
	var n int64
	err := s.r.WithContext(ctx).Raw(
		"SELECT COUNT(*) FROM setup_tokens WHERE hash = ? AND used_at IS NULL AND expires_at > ? AND NOT EXISTS (SELECT 1 FROM users WHERE role = ?)",
		HashSecret(raw), s.Now(), RoleAdmin).Scan(&n).Error
	if err != nil {
		return false, unavailable("setup token", err)
	}
	return n > 0, nil
}

// CompleteSetup spends a setup value to create the first admin, with a
// user.create audit event whose actor is the new admin (the link's holder),
// from remote.
//
// The link is checked before the password is hashed: a hash is tens of
// milliseconds of a core on the pool that every login shares, and a
// stranger without the link, posting to /setup by the thousand, must not
// be able to spend them and hold every password login back. The
// transaction checks the link again, and spends it.
func (s *Store) CompleteSetup(ctx context.Context, raw, username, password, remote, requestID string) (*User, error) {
	if !usernameRE.MatchString(username) {
		return nil, errInvalidUsername
	}
	username = FoldUsername(username)
	switch ok, err := s.SetupTokenValid(ctx, raw); {
	case err != nil:
		return nil, err
	case !ok:
		return nil, fmt.Errorf("%w: setup link", ErrNotFound)
	}
	hash, err := hashPassword(ctx, password)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	u := &User{Username: username, PasswordHash: hash, Role: RoleAdmin, CreatedAt: now}
	ev := newAuditEvent(Actor{Type: ActorStaff, Name: username}, ActionUserCreate,
		"the first administrator, created with the setup link", remote, requestID, now)
	err = s.write(ctx, func(tx *gorm.DB) error {
		var admins int64
		if err := tx.Raw("SELECT COUNT(*) FROM users WHERE role = ?", RoleAdmin).Scan(&admins).Error; err != nil {
			return err
		}
		upd := tx.Exec("UPDATE setup_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL AND expires_at > ?", now, HashSecret(raw), now)
		if upd.Error != nil {
			return upd.Error
		}
		if upd.RowsAffected != 1 || admins > 0 {
			return fmt.Errorf("%w: setup link", ErrNotFound)
		}
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
		if err := s.countTotal(tx, countUsers, 1); err != nil {
			return err
		}
		e := ev // afresh on every run: the writer may run this twice
		e.UserID = &u.ID
		return s.insertAudit(tx, &e)
	})
	if err != nil {
		return nil, wrapWrite("complete setup", err)
	}
	return u, nil
}
