package agentclient

import (
	"context"
	"net/http"
	"net/url"

	"github.com/clarateach/backend/internal/host/agentapi"
)

// PullImage calls POST /images/pull: the agent pulls the image in the
// background (or reports the pull already running or done).
func (c *Client) PullImage(ctx context.Context, req PullImageRequest) (*ImagePull, error) {
	var out ImagePull
	if _, err := c.do(ctx, http.MethodPost, "/images/pull", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// PullStatus calls GET /images/pull?ref=.
func (c *Client) PullStatus(ctx context.Context, ref string) (*ImagePull, error) {
	var out ImagePull
	if _, err := c.do(ctx, http.MethodGet, "/images/pull?ref="+url.QueryEscape(ref), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListImages calls GET /images.
func (c *Client) ListImages(ctx context.Context) ([]Image, error) {
	var out ImageList
	if _, err := c.do(ctx, http.MethodGet, "/images", nil, &out); err != nil {
		return nil, err
	}
	return out.Images, nil
}

// PruneImages calls POST /images/prune and returns the images removed.
func (c *Client) PruneImages(ctx context.Context, req agentapi.PruneImagesRequest) ([]Image, error) {
	var out ImageList
	if _, err := c.do(ctx, http.MethodPost, "/images/prune", req, &out); err != nil {
		return nil, err
	}
	return out.Images, nil
}
