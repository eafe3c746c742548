package agentclient

import (
	"context"
	"net/http"
)

// Exec runs a script in a seat as its learner (lab checks and solves).
func (c *Client) Exec(ctx context.Context, workshopID string, seat int, req ExecRequest) (*ExecResult, error) {
	var out ExecResult
	if _, err := c.do(ctx, http.MethodPost, seatPath(workshopID, seat)+"/exec", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
