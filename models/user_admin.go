package models

import (
	"context"
	"fmt"
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
}

// UserFilter narrows the user list. Prefix matches the start of a
// username; Role keeps one role.
type UserFilter struct {
	Prefix string
	Role   Role
}

// ListUsers lists users, newest first, with keyset pagination. A role
// filter walks users_role (role, id).
func (s *Store) ListUsers(ctx context.Context, f UserFilter, cur Cursor, limit int) (Page[UserRow], error) {
	limit = clampLimit(limit)
	q := s.r.WithContext(ctx).Model(&User{}).Select("id", "username", "role", "disabled_at", "created_at")
	if f.Role != "" {
		q = q.Where("role = ?", f.Role)
	}
	if f.Prefix != "" {
		// A range on the unique username index rather than LIKE, whose
		// case rules differ between SQLite and PostgreSQL.
		q = q.Where("username >= ? AND username < ?", f.Prefix, f.Prefix+"\U0010FFFF")
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

// CreateUserAs creates a user, as CreateUser does, for a staff member, and
// records a user.create audit event (never the password).
func (s *Store) CreateUserAs(ctx context.Context, username string, role Role, password string, a StaffAction) (*User, error) {
	u, err := s.CreateUser(ctx, username, role, password)
	if err != nil {
		return nil, err
	}
	ev := a.event(ActionUserCreate, s.Now())
	ev.UserID = &u.ID
	if err := s.write(ctx, func(tx *gorm.DB) error { return tx.Create(&ev).Error }); err != nil {
		return nil, wrapWrite("audit user create", fmt.Errorf("user %d: %w", u.ID, err))
	}
	return u, nil
}
