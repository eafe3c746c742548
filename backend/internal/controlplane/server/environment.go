package server

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/controlplane/sealed"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// maxEnvironment bounds an image reference.
const maxEnvironment = 512

// environmentAuthReq is a registry pull secret as the API takes it.
type environmentAuthReq struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// environment validates a workshop's image reference and seals its pull
// secret. No image means the host's own root.
func (s *Server) environment(ref string, auth *environmentAuthReq) (string, string, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		if auth != nil {
			return "", "", apierror.Invalid("environment_auth needs an environment")
		}
		return "", "", nil
	}
	if len(ref) > maxEnvironment {
		return "", "", apierror.Invalid("environment must be at most %d characters", maxEnvironment)
	}
	if _, err := name.ParseReference(ref); err != nil {
		return "", "", apierror.Invalid("environment %q is not an image reference: %v", ref, err)
	}
	if auth == nil {
		return ref, "", nil
	}
	if auth.Username == "" || auth.Password == "" || len(auth.Username)+len(auth.Password) > 8192 {
		return "", "", apierror.Invalid("environment_auth needs a username and a password (at most 8 KiB)")
	}
	b, _ := json.Marshal(store.PullSecret{Username: auth.Username, Password: auth.Password})
	sealedAuth, err := sealed.Seal(s.wsKey, store.PullSecretPurpose, string(b))
	if err != nil {
		return "", "", err
	}
	return ref, sealedAuth, nil
}

// takeLabEnvironment gives a workshop that names no environment its lab's
// (lab.yaml's environment) when the lab is set before the workshop runs:
// its seats are then provisioned on that image. A workshop's own
// environment wins, and a running workshop keeps the root its seats have.
// It returns the workshop when it took it.
func (s *Server) takeLabEnvironment(ctx context.Context, workshopID, labEnv string) (*store.Workshop, error) {
	if labEnv == "" {
		return nil, nil
	}
	if _, err := name.ParseReference(labEnv); err != nil {
		return nil, nil // shown in the lab; the workshop stays on the host's root
	}
	took := false
	w, err := s.st.UpdateWorkshop(ctx, workshopID, func(w *store.Workshop) error {
		took = false
		if w.Environment == "" && w.DesiredState != store.DesiredRunning {
			w.Environment, took = labEnv, true
		}
		return nil
	})
	if err != nil || !took {
		return nil, err
	}
	return w, nil
}
