package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/sealed"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// StepPullImage pulls the workshop's environment image on its host,
// after the agent answers and before any seat starts: a bad image fails
// the workshop before the class, never half-way through its seats.
const StepPullImage Step = "pull_image"

// imageAgent is an agent that pulls images (agentclient.Client).
type imageAgent interface {
	PullImage(ctx context.Context, req agentclient.PullImageRequest) (*agentclient.ImagePull, error)
	PullStatus(ctx context.Context, ref string) (*agentclient.ImagePull, error)
}

// pullPoll is how often the pull's progress is asked for (and shown).
const pullPoll = time.Second

// pullImage is the pull_image step. It returns the image's digest ("" for
// a workshop on the host's root), which every seat is created with.
func (r *Reconciler) pullImage(ctx context.Context, c *change, w *store.Workshop, vm *store.WorkshopVM, agent Agent) (string, error) {
	if w.Environment == "" {
		return "", nil
	}
	r.begin(c, vm, StepPullImage)
	if err := r.commit(ctx, w, c); err != nil {
		return "", err
	}
	digest, err := r.runPull(ctx, c, w, vm, agent)
	if err != nil {
		return "", r.fail(ctx, c, w, vm, StepPullImage, err)
	}
	r.end(c, vm, StepPullImage, nil)
	return digest, nil
}

func (r *Reconciler) runPull(ctx context.Context, c *change, w *store.Workshop, vm *store.WorkshopVM, agent Agent) (string, error) {
	ia, ok := agent.(imageAgent)
	if !ok {
		return "", errors.New("this host's agent cannot pull images")
	}
	req, err := r.pullRequest(w)
	if err != nil {
		return "", err
	}
	st, err := ia.PullImage(ctx, req)
	deadline := r.cfg.Now().Add(r.cfg.StepTimeout)
	for err == nil && st.State == "pulling" {
		if r.cfg.Now().After(deadline) {
			return "", fmt.Errorf("the pull of %s took longer than %s", w.Environment, r.cfg.StepTimeout)
		}
		r.showProgress(ctx, c, w, vm, st)
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(pullPoll): // the agent is asked, not waited on
		}
		st, err = ia.PullStatus(ctx, w.Environment)
	}
	if err != nil {
		return "", fmt.Errorf("pull %s: %w", w.Environment, err)
	}
	if st.State != "done" {
		return "", fmt.Errorf("image %s: %s (%s)", w.Environment, pullMessage(st.Reason), st.Error)
	}
	return st.Digest, nil
}

// showProgress writes the pull's progress into its step.
func (r *Reconciler) showProgress(ctx context.Context, c *change, w *store.Workshop, vm *store.WorkshopVM, st *agentclient.ImagePull) {
	if st.TotalBytes <= 0 {
		return
	}
	p := fmt.Sprintf("%.1f of %.1f MB", float64(st.DoneBytes)/1e6, float64(st.TotalBytes)/1e6)
	for i := range vm.Steps {
		if s := &vm.Steps[i]; s.Name == StepPullImage && s.Status == store.StepRunning && s.Progress != p {
			s.Progress = p
			vm.UpdatedAt = r.cfg.Now()
			c.host = vm
		}
	}
	_ = r.commit(ctx, w, c) // progress is shown on a best-effort basis
}

// pullRequest is how the host authenticates: the workshop's pull
// secret, else the host's GCE service account for Google's registries
// (Artifact Registry *-docker.pkg.dev, Container Registry *gcr.io), else
// anonymous.
func (r *Reconciler) pullRequest(w *store.Workshop) (agentclient.PullImageRequest, error) {
	req := agentclient.PullImageRequest{Ref: w.Environment}
	if w.EnvironmentAuth != "" {
		js, err := sealed.Open(r.cfg.WorkspaceSecret, store.PullSecretPurpose, w.EnvironmentAuth)
		if err != nil {
			return req, fmt.Errorf("the workshop's pull secret: %w", err)
		}
		var ps store.PullSecret
		if err := json.Unmarshal([]byte(js), &ps); err != nil {
			return req, fmt.Errorf("the workshop's pull secret: %w", err)
		}
		req.Username, req.Password = ps.Username, ps.Password
		return req, nil
	}
	host, _, _ := strings.Cut(w.Environment, "/")
	req.GCEToken = strings.HasSuffix(host, "-docker.pkg.dev") || host == "gcr.io" || strings.HasSuffix(host, ".gcr.io")
	return req, nil
}

// pullMessage says what a pull failure means for the instructor.
func pullMessage(reason string) string {
	switch reason {
	case "not_found":
		return "not found in its registry"
	case "unauthorized":
		return "the registry refused access (check the pull secret)"
	case "wrong_arch":
		return "no variant for the host's platform (linux/amd64)"
	case "too_big":
		return "too big for the host's disk"
	case "no_shell":
		return "it has no shell (/bin/sh): seats need one"
	case "bad_image":
		return "the image is malformed or did not match its digest"
	}
	return "the pull failed"
}
