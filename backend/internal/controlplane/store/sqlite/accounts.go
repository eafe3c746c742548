package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/internal/query"
)

// ListUsers implements store.Store, oldest first.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	return list(ctx, s.r, "list users", scanUser, `SELECT `+query.UserCols+` FROM users ORDER BY created_at, id`)
}

// ---- quotas ----------------------------------------------------------------

// GetQuota implements store.Store.
func (s *Store) GetQuota(ctx context.Context, userID string) (*store.Quota, error) {
	var q store.Quota
	err := s.r.QueryRowContext(ctx, `SELECT running_workshops, seats, workshop_hours FROM user_quotas WHERE user_id = ?`, userID).
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
	_, err := s.w.ExecContext(ctx, `INSERT INTO user_quotas (user_id, running_workshops, seats, workshop_hours, updated_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET running_workshops = excluded.running_workshops,
			seats = excluded.seats, workshop_hours = excluded.workshop_hours, updated_at = excluded.updated_at`,
		userID, q.RunningWorkshops, q.Seats, q.WorkshopHours, enc(now()))
	return mapErr("set quota", err)
}

// DeleteQuota implements store.Store.
func (s *Store) DeleteQuota(ctx context.Context, userID string) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM user_quotas WHERE user_id = ?`, userID)
	return mapErr("delete quota", err)
}

func ownerUsage(ctx context.Context, q querier, ownerID, exceptID string) (store.Usage, error) {
	var u store.Usage
	err := q.QueryRowContext(ctx, query.OwnerUsageSQL(param), ownerID, exceptID).Scan(&u.RunningWorkshops, &u.Seats)
	return u, mapErr("owner usage", err)
}

// OwnerUsage implements store.Store.
func (s *Store) OwnerUsage(ctx context.Context, ownerID string) (store.Usage, error) {
	return ownerUsage(ctx, s.r, ownerID, "")
}

// CreateWorkshopWithin implements store.Store. Every write transaction of
// the file is serialised (one writer connection, BEGIN IMMEDIATE across
// processes), so reading the usage inside it is the owner lock.
func (s *Store) CreateWorkshopWithin(ctx context.Context, w *store.Workshop, check func(store.Usage) error) error {
	store.PrepareWorkshop(w, now())
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var id string
		if err := tx.QueryRowContext(ctx, `SELECT id FROM users WHERE id = ?`, w.OwnerID).Scan(&id); err != nil {
			return mapErr("create workshop: owner", err)
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

// UpdateWorkshopWithin implements store.Store (serialised like
// CreateWorkshopWithin).
func (s *Store) UpdateWorkshopWithin(ctx context.Context, id string, fn func(*store.Workshop, store.Usage) error) (*store.Workshop, error) {
	var out *store.Workshop
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		w, err := scanWorkshop(tx.QueryRowContext(ctx, `SELECT `+query.WorkshopCols+` FROM workshops WHERE id = ?`, id))
		if err != nil {
			return mapErr("update workshop", err)
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

func scanInvite(row scanner) (*store.Invite, error) {
	var inv store.Invite
	if err := row.Scan(&inv.ID, &inv.TokenHash, &inv.Email, &inv.CreatedBy, timeCol{&inv.CreatedAt},
		timeCol{&inv.ExpiresAt}, nullTimeCol{&inv.UsedAt}, &inv.UsedBy); err != nil {
		return nil, err
	}
	return &inv, nil
}

// CreateInvite implements store.Store.
func (s *Store) CreateInvite(ctx context.Context, inv *store.Invite) error {
	store.PrepareInvite(inv, now())
	_, err := s.w.ExecContext(ctx, `INSERT INTO invites (`+inviteCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		inv.ID, inv.TokenHash, inv.Email, inv.CreatedBy, enc(inv.CreatedAt), enc(inv.ExpiresAt), encp(inv.UsedAt), inv.UsedBy)
	return mapErr("create invite", err)
}

// ListInvites implements store.Store, newest first.
func (s *Store) ListInvites(ctx context.Context) ([]store.Invite, error) {
	return list(ctx, s.r, "list invites", scanInvite, `SELECT `+inviteCols+` FROM invites ORDER BY created_at DESC, id DESC`)
}

// DeleteInvite implements store.Store.
func (s *Store) DeleteInvite(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM invites WHERE id = ?`, id)
	if err != nil {
		return mapErr("delete invite", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete invite: %w", store.ErrNotFound)
	}
	return nil
}

// CreateUserWithInvite implements store.Store.
func (s *Store) CreateUserWithInvite(ctx context.Context, u *store.User, tokenHash string, at time.Time) (*store.Invite, error) {
	store.PrepareUser(u, now())
	var out *store.Invite
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		inv, err := scanInvite(tx.QueryRowContext(ctx, `UPDATE invites SET used_at = ?, used_by = ?
			WHERE token_hash = ? AND used_at IS NULL AND expires_at > ? AND (email = '' OR email = ?)
			RETURNING `+inviteCols, enc(at), u.ID, tokenHash, enc(at), u.Email))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("create user: %w", store.ErrInvite)
		}
		if err != nil {
			return mapErr("create user", err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO users (`+query.UserCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
			u.ID, u.Email, u.Name, u.PasswordHash, u.Role, enc(u.CreatedAt))
		if err != nil {
			return mapErr("create user", err)
		}
		out = inv
		return nil
	})
	return out, err
}

// ---- co-instructors --------------------------------------------------------

func scanMember(row scanner) (*store.Member, error) {
	var m store.Member
	if err := row.Scan(&m.WorkshopID, &m.UserID, &m.Role, timeCol{&m.CreatedAt}, &m.Email, &m.Name); err != nil {
		return nil, err
	}
	return &m, nil
}

// AddMember implements store.Store.
func (s *Store) AddMember(ctx context.Context, m *store.Member) error {
	store.PrepareMember(m, now())
	_, err := s.w.ExecContext(ctx, `INSERT INTO workshop_members (workshop_id, user_id, role, created_at) VALUES (?, ?, ?, ?)`,
		m.WorkshopID, m.UserID, m.Role, enc(m.CreatedAt))
	return mapErr("add member", err)
}

// RemoveMember implements store.Store.
func (s *Store) RemoveMember(ctx context.Context, workshopID, userID string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM workshop_members WHERE workshop_id = ? AND user_id = ?`, workshopID, userID)
	if err != nil {
		return mapErr("remove member", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("remove member: %w", store.ErrNotFound)
	}
	return nil
}

// GetMember implements store.Store.
func (s *Store) GetMember(ctx context.Context, workshopID, userID string) (*store.Member, error) {
	m, err := scanMember(s.r.QueryRowContext(ctx, query.MemberSelect+` WHERE m.workshop_id = ? AND m.user_id = ?`, workshopID, userID))
	return m, mapErr("get member", err)
}

// ListMembers implements store.Store, oldest first.
func (s *Store) ListMembers(ctx context.Context, workshopID string) ([]store.Member, error) {
	return list(ctx, s.r, "list members", scanMember, query.MemberSelect+` WHERE m.workshop_id = ? ORDER BY m.created_at, u.email`, workshopID)
}

// ListMemberWorkshops implements store.Store.
func (s *Store) ListMemberWorkshops(ctx context.Context, userID string) ([]store.Workshop, error) {
	return list(ctx, s.r, "list member workshops", scanWorkshop, query.MemberWorkshopsSQL(param), userID)
}
