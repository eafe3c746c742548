package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/internal/query"
)

// ListUsers implements store.Store, oldest first.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	return list(ctx, s.pool, "list users", scanUser, `SELECT `+query.UserCols+` FROM users ORDER BY created_at, id`)
}

// ---- quotas ----------------------------------------------------------------

// GetQuota implements store.Store.
func (s *Store) GetQuota(ctx context.Context, userID string) (*store.Quota, error) {
	var q store.Quota
	err := s.pool.QueryRow(ctx, `SELECT running_workshops, seats, workshop_hours FROM user_quotas WHERE user_id = $1`, userID).
		Scan(&q.RunningWorkshops, &q.Seats, &q.WorkshopHours)
	if err != nil {
		return nil, mapErr("get quota", err)
	}
	return &q, nil
}

// SetQuota implements store.Store.
func (s *Store) SetQuota(ctx context.Context, userID string, q store.Quota) error {
	if err := store.CheckQuota(q); err != nil {
		return fmt.Errorf("set quota: %w", err)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO user_quotas (user_id, running_workshops, seats, workshop_hours, updated_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id) DO UPDATE SET running_workshops = EXCLUDED.running_workshops,
			seats = EXCLUDED.seats, workshop_hours = EXCLUDED.workshop_hours, updated_at = EXCLUDED.updated_at`,
		userID, q.RunningWorkshops, q.Seats, q.WorkshopHours, now())
	return mapErr("set quota", err)
}

// DeleteQuota implements store.Store.
func (s *Store) DeleteQuota(ctx context.Context, userID string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM user_quotas WHERE user_id = $1`, userID)
	return mapErr("delete quota", err)
}

type queryRower interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func ownerUsage(ctx context.Context, q queryRower, ownerID, exceptID string) (store.Usage, error) {
	var u store.Usage
	err := q.QueryRow(ctx, query.OwnerUsageSQL(param), ownerID, exceptID).Scan(&u.RunningWorkshops, &u.Seats)
	return u, mapErr("owner usage", err)
}

// OwnerUsage implements store.Store.
func (s *Store) OwnerUsage(ctx context.Context, ownerID string) (store.Usage, error) {
	return ownerUsage(ctx, s.pool, ownerID, "")
}

// lockOwner takes the per-owner lock that serialises quota checks: the
// owner's users row, FOR NO KEY UPDATE (which does not block the FOR KEY
// SHARE lock that inserting a workshop takes on it). Nothing else locks
// users rows, so there is no lock-order cycle with the workshop locks.
func lockOwner(ctx context.Context, tx pgx.Tx, ownerID string) error {
	var id string
	err := tx.QueryRow(ctx, `SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE`, ownerID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("owner %w", store.ErrNotFound)
	}
	return err
}

// CreateWorkshopWithin implements store.Store.
func (s *Store) CreateWorkshopWithin(ctx context.Context, w *store.Workshop, check func(store.Usage) error) error {
	store.PrepareWorkshop(w, now())
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockOwner(ctx, tx, w.OwnerID); err != nil {
			return fmt.Errorf("create workshop: %w", err)
		}
		u, err := ownerUsage(ctx, tx, w.OwnerID, "")
		if err != nil {
			return err
		}
		if err := check(u); err != nil {
			return err
		}
		return insertWorkshop(ctx, tx, w)
	})
}

// UpdateWorkshopWithin implements store.Store: the owner is locked before
// the workshop, as in CreateWorkshopWithin.
func (s *Store) UpdateWorkshopWithin(ctx context.Context, id string, fn func(*store.Workshop, store.Usage) error) (*store.Workshop, error) {
	cur, err := s.GetWorkshop(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("update workshop: %w", err)
	}
	var out *store.Workshop
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockOwner(ctx, tx, cur.OwnerID); err != nil {
			return fmt.Errorf("update workshop: %w", err)
		}
		w, err := scanWorkshop(tx.QueryRow(ctx, `SELECT `+query.WorkshopCols+` FROM workshops WHERE id = $1 FOR NO KEY UPDATE`, id))
		if err != nil {
			return mapErr("update workshop", err)
		}
		if w.OwnerID != cur.OwnerID {
			return fmt.Errorf("update workshop: owner changed: %w", store.ErrConflict)
		}
		others, err := ownerUsage(ctx, tx, w.OwnerID, id)
		if err != nil {
			return err
		}
		if err := fn(w, others); err != nil {
			return err
		}
		out, err = writeWorkshop(ctx, tx, id, w)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, s.changed(nil, id)
}

// ---- invites ---------------------------------------------------------------

const inviteCols = `id, token_hash, email, created_by, created_at, expires_at, used_at, used_by`

func scanInvite(row pgx.Row) (*store.Invite, error) {
	var inv store.Invite
	if err := row.Scan(&inv.ID, &inv.TokenHash, &inv.Email, &inv.CreatedBy, &inv.CreatedAt, &inv.ExpiresAt,
		&inv.UsedAt, &inv.UsedBy); err != nil {
		return nil, err
	}
	inv.CreatedAt, inv.ExpiresAt, inv.UsedAt = inv.CreatedAt.UTC(), inv.ExpiresAt.UTC(), store.UTCPtr(inv.UsedAt)
	return &inv, nil
}

// CreateInvite implements store.Store.
func (s *Store) CreateInvite(ctx context.Context, inv *store.Invite) error {
	store.PrepareInvite(inv, now())
	_, err := s.pool.Exec(ctx, `INSERT INTO invites (`+inviteCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		inv.ID, inv.TokenHash, inv.Email, inv.CreatedBy, inv.CreatedAt, inv.ExpiresAt, inv.UsedAt, inv.UsedBy)
	return mapErr("create invite", err)
}

// ListInvites implements store.Store, newest first.
func (s *Store) ListInvites(ctx context.Context) ([]store.Invite, error) {
	return list(ctx, s.pool, "list invites", scanInvite, `SELECT `+inviteCols+` FROM invites ORDER BY created_at DESC, id DESC`)
}

// DeleteInvite implements store.Store.
func (s *Store) DeleteInvite(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM invites WHERE id = $1`, id)
	if err != nil {
		return mapErr("delete invite", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete invite: %w", store.ErrNotFound)
	}
	return nil
}

// CreateUserWithInvite implements store.Store.
func (s *Store) CreateUserWithInvite(ctx context.Context, u *store.User, tokenHash string, at time.Time) (*store.Invite, error) {
	store.PrepareUser(u, now())
	var out *store.Invite
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		inv, err := scanInvite(tx.QueryRow(ctx, `UPDATE invites SET used_at = $2, used_by = $3
			WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 AND (email = '' OR email = $4)
			RETURNING `+inviteCols, tokenHash, store.UTC(at), u.ID, u.Email))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("create user: %w", store.ErrInvite)
		}
		if err != nil {
			return mapErr("create user", err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO users (`+query.UserCols+`) VALUES ($1, $2, $3, $4, $5, $6)`,
			u.ID, u.Email, u.Name, u.PasswordHash, u.Role, u.CreatedAt)
		if err != nil {
			return mapErr("create user", err)
		}
		out = inv
		return nil
	})
	return out, err
}

// ---- co-instructors --------------------------------------------------------

func scanMember(row pgx.Row) (*store.Member, error) {
	var m store.Member
	if err := row.Scan(&m.WorkshopID, &m.UserID, &m.Role, &m.CreatedAt, &m.Email, &m.Name); err != nil {
		return nil, err
	}
	m.CreatedAt = m.CreatedAt.UTC()
	return &m, nil
}

// AddMember implements store.Store.
func (s *Store) AddMember(ctx context.Context, m *store.Member) error {
	store.PrepareMember(m, now())
	_, err := s.pool.Exec(ctx, `INSERT INTO workshop_members (workshop_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)`,
		m.WorkshopID, m.UserID, m.Role, m.CreatedAt)
	return mapErr("add member", err)
}

// RemoveMember implements store.Store.
func (s *Store) RemoveMember(ctx context.Context, workshopID, userID string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM workshop_members WHERE workshop_id = $1 AND user_id = $2`, workshopID, userID)
	if err != nil {
		return mapErr("remove member", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("remove member: %w", store.ErrNotFound)
	}
	return nil
}

// GetMember implements store.Store.
func (s *Store) GetMember(ctx context.Context, workshopID, userID string) (*store.Member, error) {
	m, err := scanMember(s.pool.QueryRow(ctx, query.MemberSelect+` WHERE m.workshop_id = $1 AND m.user_id = $2`, workshopID, userID))
	return m, mapErr("get member", err)
}

// ListMembers implements store.Store, oldest first.
func (s *Store) ListMembers(ctx context.Context, workshopID string) ([]store.Member, error) {
	return list(ctx, s.pool, "list members", scanMember, query.MemberSelect+` WHERE m.workshop_id = $1 ORDER BY m.created_at, u.email`, workshopID)
}

// ListMemberWorkshops implements store.Store.
func (s *Store) ListMemberWorkshops(ctx context.Context, userID string) ([]store.Workshop, error) {
	return list(ctx, s.pool, "list member workshops", scanWorkshop, query.MemberWorkshopsSQL(param), userID)
}
