package server

import (
	"errors"
	"net/http"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// The control plane's handlers return their error (apierror.HandlerFunc);
// serve writes it. An *apierror.Error is written as it is. The store's own
// errors are mapped to API errors here, in one table, so that no handler
// has to: a handler that has better words for one of them (what was not
// found, which conflict) says them with answer, and the table still decides
// which store error gets which status. Any other error is a 500 that is
// logged and never shown.

// storeErrors maps each error the store returns to the API error it is
// answered with when the handler has no better words.
var storeErrors = []struct {
	err error
	api *apierror.Error
}{
	{store.ErrNotFound, apierror.NotFound("not found")},
	{store.ErrConflict, apierror.Conflict("conflict", "already exists")},
	{store.ErrFull, apierror.Conflict("workshop_full", "this workshop is full")},
	{store.ErrRevoked, apierror.Forbidden("your registration for this workshop was revoked by the instructor")},
	{store.ErrInvite, apierror.New(http.StatusForbidden, "invite_invalid", "this invite is unknown, expired, already used, or made out to another email address; ask an administrator for a new one")},
}

// serve adapts an error-returning handler to net/http: its error passes
// through apiError and apierror.Write. It is the one adapter of the
// control plane's routes.
func serve(h apierror.HandlerFunc) http.Handler {
	return apierror.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return apiError(h(w, r))
	})
}

// apiError maps the store's errors to API errors (storeErrors); an
// *apierror.Error, nil and any other error are returned as they are.
func apiError(err error) error {
	var ae *apierror.Error
	if err == nil || errors.As(err, &ae) {
		return err
	}
	for _, m := range storeErrors {
		if errors.Is(err, m.err) {
			return m.api
		}
	}
	return err
}

// answer is the handler's own words for a store error: the first of aes
// whose status storeErrors gives err (a 404 for store.ErrNotFound, a 409
// for store.ErrConflict or store.ErrFull, a 403 for store.ErrRevoked or
// store.ErrInvite); err unchanged when none has it (nil stays nil).
//
//	return answer(err, apierror.NotFound("workshop not found"))
func answer(err error, aes ...*apierror.Error) error {
	if err == nil {
		return nil
	}
	for _, m := range storeErrors {
		if !errors.Is(err, m.err) {
			continue
		}
		for _, ae := range aes {
			if ae.Status == m.api.Status {
				return ae
			}
		}
	}
	return err
}
