package server

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/controlplane/lab"
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

// takeLabSettings gives a workshop what its lab's lab.yaml asks of the
// seats when the lab is set before the workshop runs, so its seats are
// provisioned that way: the lab's environment image when the workshop
// names none (a workshop's own environment wins), and learner root when
// the lab asks for it (a lab never takes a workshop's learner root away).
// A running workshop keeps the seats it has. It returns the workshop and
// what it took when it took anything.
func (s *Server) takeLabSettings(ctx context.Context, workshopID string, l *lab.Lab) (*store.Workshop, []string, error) {
	env := l.Environment
	if env != "" {
		if _, err := name.ParseReference(env); err != nil {
			env = "" // shown in the lab; the workshop stays on the host's root
		}
	}
	if env == "" && !l.LearnerRoot {
		return nil, nil, nil
	}
	var took []string
	w, err := s.st.UpdateWorkshop(ctx, workshopID, func(w *store.Workshop) error {
		took = nil
		if w.DesiredState == store.DesiredRunning {
			return nil
		}
		if env != "" && w.Environment == "" {
			w.Environment = env
			took = append(took, "environment "+env+" (the lab's)")
		}
		if l.LearnerRoot && !w.LearnerRoot {
			w.LearnerRoot = true
			took = append(took, "learner root (the lab's)")
		}
		return nil
	})
	if err != nil || len(took) == 0 {
		return nil, nil, err
	}
	return w, took, nil
}
