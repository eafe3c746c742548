package server

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// The store's errors reach the API through one table, wrapped or not.
func TestAPIErrorMapsStoreErrors(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		code   string
	}{
		{store.ErrNotFound, http.StatusNotFound, "not_found"},
		{fmt.Errorf("get workshop: %w", store.ErrNotFound), http.StatusNotFound, "not_found"},
		{store.ErrConflict, http.StatusConflict, "conflict"},
		{store.ErrFull, http.StatusConflict, "workshop_full"},
		{store.ErrRevoked, http.StatusForbidden, "forbidden"},
		{fmt.Errorf("create user: %w", store.ErrInvite), http.StatusForbidden, "invite_invalid"},
	} {
		var ae *apierror.Error
		if !errors.As(apiError(c.err), &ae) || ae.Status != c.status || ae.Code != c.code {
			t.Errorf("apiError(%v) = %v, want %d %s", c.err, apiError(c.err), c.status, c.code)
		}
	}
	other := errors.New("disk on fire")
	if got := apiError(other); got != other {
		t.Errorf("apiError(other) = %v, want the error itself (a 500 that is logged)", got)
	}
	if apiError(nil) != nil {
		t.Error("apiError(nil) != nil")
	}
}

// answer gives the handler's words only to the store error of their status.
func TestAnswerKeepsStatusOfStoreError(t *testing.T) {
	words := apierror.NotFound("workshop not found")
	if got := answer(fmt.Errorf("x: %w", store.ErrNotFound), words); got != words {
		t.Errorf("answer(not found) = %v, want the handler's words", got)
	}
	if got := answer(store.ErrConflict, words); got != store.ErrConflict {
		t.Errorf("answer(conflict, 404 words) = %v, want the conflict unchanged", got)
	}
	full := apierror.Conflict("workshop_full", "every seat of this workshop is taken")
	revoked := apierror.Forbidden("revoked")
	if got := answer(store.ErrRevoked, full, revoked); got != revoked {
		t.Errorf("answer(revoked, full, revoked) = %v, want revoked", got)
	}
	other := errors.New("disk on fire")
	if got := answer(other, words); got != other {
		t.Errorf("answer(other) = %v, want it unchanged", got)
	}
	if answer(nil, words) != nil {
		t.Error("answer(nil) != nil")
	}
}
