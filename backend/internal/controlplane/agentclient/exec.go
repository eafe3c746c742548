package agentclient

import (
	"context"
	"net/http"
)

// ExecRequest is the body of the agent's POST /vms/{ws}/{seat}/exec: a lab
// script to run in the seat as the learner.
type ExecRequest struct {
	Script    string `json:"script"`
	TimeoutMS int    `json:"timeout_ms,omitempty"`
}

// ExecResult is what a script did. A script that ran is a result whatever
// its exit code; errors are for a seat that could not run it.
type ExecResult struct {
	ExitCode   int    `json:"exit_code"`
	Stdout     string `json:"stdout"`
	Stderr     string `json:"stderr"`
	Truncated  bool   `json:"truncated"`
	TimedOut   bool   `json:"timed_out"`
	DurationMS int64  `json:"duration_ms"`
}

// Exec runs a script in a seat as its learner (lab checks and solves).
func (c *Client) Exec(ctx context.Context, workshopID string, seat int, req ExecRequest) (*ExecResult, error) {
	var out ExecResult
	if _, err := c.do(ctx, http.MethodPost, seatPath(workshopID, seat)+"/exec", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
