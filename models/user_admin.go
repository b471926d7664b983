package models

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// UserRow is a user as the dashboard lists it. It has no password hash.
type UserRow struct {
	ID         int64
	Username   string
	Role       Role
	DisabledAt *time.Time
	CreatedAt  time.Time
	// LastLoginAt is the user's last browser login (never for users who
	// only reach Latchkey through the password grant).
	LastLoginAt *time.Time
	// ActiveGrants counts the user's active grants.
	ActiveGrants int64
}

// UserFilter narrows the user list. Prefix matches the start of a
// username; Role keeps one role.
type UserFilter struct {
	Prefix string
	Role   Role
}

// ListUsers lists users, newest first, with keyset pagination, each with
// its last login and its count of active grants (a subquery over
// grants_user) in the same query. A role filter walks users_role (role,
// id).
func (s *Store) ListUsers(ctx context.Context, f UserFilter, cur Cursor, limit int) (Page[UserRow], error) {
	limit = clampLimit(limit)
	q := s.r.WithContext(ctx).Model(&User{}).Select(userListColumns, s.Now())
	if f.Role != "" {
		q = q.Where("role = ?", f.Role)
	}
	if f.Prefix != "" {
		// A range on the unique username index rather than LIKE, whose
		// case rules differ between SQLite and PostgreSQL.
		// Usernames are stored folded, so the prefix is too.
		prefix := FoldUsername(f.Prefix)
		q = q.Where("username >= ? AND username < ?", prefix, prefix+"\U0010FFFF")
	}
	if cur.Before > 0 {
		q = q.Where("id < ?", cur.Before)
	}
	var rows []UserRow
	if err := q.Order("id DESC").Limit(limit + 1).Scan(&rows).Error; err != nil {
		return Page[UserRow]{}, unavailable("list users", err)
	}
	return pageOf(rows, limit, func(r UserRow) int64 { return r.ID }), nil
}

const userListColumns = `id, username, role, disabled_at, created_at, last_login_at,
 (SELECT COUNT(*) FROM grants g WHERE g.user_id = users.id AND g.revoked_at IS NULL AND g.expires_at > ?) AS active_grants`

// CreateUserAs creates a user, as CreateUser does, for a staff member, and
// records a user.create audit event (never the password).
func (s *Store) CreateUserAs(ctx context.Context, username string, role Role, password string, a StaffAction) (*User, error) {
	ev := a.event(ActionUserCreate, s.Now())
	return s.createUser(ctx, username, role, password, &ev) // the user and its event commit together
}

// UserUpdate is what an administrator may change about a user: the role,
// and the password when Password is not empty.
type UserUpdate struct {
	Role     Role
	Password string
}

// UpdateUser changes a user's role and, optionally, resets their password,
// with one user.update audit event naming what changed (never the
// password), in one transaction. A password reset also ends every browser
// session of the user: whoever knew the old password is logged out. Tokens
// already issued to clients stay valid; revoke them apart. Demoting the
// last active admin is ErrInvalid, so that somebody can still act on the
// dashboard. Saving unchanged settings writes nothing and records no event.
func (s *Store) UpdateUser(ctx context.Context, id int64, u UserUpdate, a StaffAction) (*User, error) {
	role, err := ParseRole(string(u.Role))
	if err != nil {
		return nil, err
	}
	var hash string
	if u.Password != "" {
		// bcrypt is slow: hash before taking the writer.
		if hash, err = hashPassword(ctx, u.Password); err != nil {
			return nil, err
		}
	}
	var out *User
	err = s.write(ctx, func(tx *gorm.DB) error {
		out = nil // afresh on every run: the writer may run this twice
		old, err := s.userTx(tx, id)
		if err != nil {
			return err
		}
		var changed []string
		if old.Role != role {
			if old.Role == RoleAdmin && old.DisabledAt == nil {
				if err := s.keepAnAdmin(tx, old, "demote"); err != nil {
					return err
				}
			}
			changed = append(changed, fmt.Sprintf("role %s → %s", old.Role, role))
		}
		if hash != "" {
			changed = append(changed, "password reset, sessions ended")
		}
		next := *old
		next.Role = role
		if len(changed) == 0 {
			out = &next
			return nil
		}
		if hash != "" {
			next.PasswordHash = hash
			if err := tx.Exec("DELETE FROM sessions WHERE user_id = ?", id).Error; err != nil {
				return err
			}
		}
		if err := tx.Exec("UPDATE users SET role = ?, password_hash = ? WHERE id = ?", next.Role, next.PasswordHash, id).Error; err != nil {
			return err
		}
		ev := a.event(ActionUserUpdate, s.Now())
		ev.UserID = &id
		ev.Reason = truncate(strings.Join(changed, "; ")+reasonSuffix(a.Reason), 500)
		if err := s.insertAudit(tx, &ev); err != nil {
			return err
		}
		out = &next
		return nil
	})
	if err != nil {
		return nil, wrapWrite("update user", err)
	}
	return out, nil
}

// DisableUser stops a user for good until enabled again: they can no
// longer log in, their browser sessions end, their unused authorization
// codes expire, and every grant they hold is revoked through the
// revocation core — all in one transaction, with one user.disable audit
// event that counts the tokens. Refusing only the login would leave their
// tokens working at every resource server until they expire. Disabling the
// last active admin, or a disabled user, is ErrInvalid.
func (s *Store) DisableUser(ctx context.Context, id int64, a StaffAction) (RevokeResult, error) {
	var res RevokeResult
	err := s.write(ctx, func(tx *gorm.DB) error {
		res = RevokeResult{} // afresh on every run
		now := s.Now()
		u, err := s.userTx(tx, id)
		if err != nil {
			return err
		}
		if u.DisabledAt != nil {
			return invalid("user", "The user is already disabled.")
		}
		if u.Role == RoleAdmin {
			if err := s.keepAnAdmin(tx, u, "disable"); err != nil {
				return err
			}
		}
		if err := tx.Exec("UPDATE users SET disabled_at = ? WHERE id = ?", now, id).Error; err != nil {
			return err
		}
		if err := tx.Exec("DELETE FROM sessions WHERE user_id = ?", id).Error; err != nil {
			return err
		}
		// A code approved a moment ago could otherwise still be exchanged
		// for a new grant.
		if err := tx.Exec("UPDATE codes SET expires_at = ? WHERE user_id = ? AND used_at IS NULL AND expires_at > ?", now, id, now).Error; err != nil {
			return err
		}
		res, err = s.revokeTx(tx, RevokeRequest{UserID: id, Actor: a.Actor, Action: ActionUserDisable,
			Reason: strings.TrimSpace(a.Reason), Remote: a.Remote, RequestID: a.RequestID}, nil)
		return err
	})
	if err != nil {
		return RevokeResult{}, wrapWrite("disable user", err)
	}
	return res, nil
}

// EnableUser lets a disabled user log in again, with a user.enable audit
// event. What disabling revoked stays revoked: the user authorizes their
// clients anew. Enabling an enabled user is ErrInvalid.
func (s *Store) EnableUser(ctx context.Context, id int64, a StaffAction) error {
	err := s.write(ctx, func(tx *gorm.DB) error {
		u, err := s.userTx(tx, id)
		if err != nil {
			return err
		}
		if u.DisabledAt == nil {
			return invalid("user", "The user is not disabled.")
		}
		if err := tx.Exec("UPDATE users SET disabled_at = NULL WHERE id = ?", id).Error; err != nil {
			return err
		}
		ev := a.event(ActionUserEnable, s.Now())
		ev.UserID = &id
		ev.Reason = truncate(strings.TrimSpace(a.Reason), 500)
		return s.insertAudit(tx, &ev)
	})
	if err != nil {
		return wrapWrite("enable user", err)
	}
	return nil
}

// userTx reads one user inside a write.
func (s *Store) userTx(tx *gorm.DB, id int64) (*User, error) {
	var u User
	res := tx.Select("id", "username", "password_hash", "role", "disabled_at", "created_at").Where("id = ?", id).Limit(1).Find(&u)
	if res.Error != nil {
		return nil, res.Error
	}
	if res.RowsAffected == 0 {
		return nil, fmt.Errorf("%w: user %d", ErrNotFound, id)
	}
	return &u, nil
}

// keepAnAdmin refuses to take u, an active admin, out of the admins when no
// other active admin is left. On PostgreSQL it locks the active admins'
// rows first, so that two administrators demoting each other at the same
// moment cannot both succeed; SQLite has a single writer already.
func (s *Store) keepAnAdmin(tx *gorm.DB, u *User, verb string) error {
	q := "SELECT id FROM users WHERE role = ? AND disabled_at IS NULL"
	if s.dialect == DialectPostgres {
		q += " FOR UPDATE"
	}
	var ids []int64
	if err := tx.Raw(q, RoleAdmin).Scan(&ids).Error; err != nil {
		return err
	}
	for _, other := range ids {
		if other != u.ID {
			return nil
		}
	}
	return invalid("role", "Cannot %s %s, the last active admin; make another user an admin first.", verb, u.Username)
}

// reasonSuffix appends a staff member's own reason to an audit summary.
func reasonSuffix(reason string) string {
	if r := strings.TrimSpace(reason); r != "" {
		return ": " + r
	}
	return ""
}
