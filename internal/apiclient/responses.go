package apiclient

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/respond"
)

// respondTimeout bounds a manual response's request: the engine's own
// bound (2 minutes) and some.
const respondTimeout = 3 * time.Minute

// ResponseError is a manual response the server ran but that did not end
// well (an action failed, say): the request was valid and recorded.
type ResponseError struct {
	Message string
}

func (e *ResponseError) Error() string { return "response failed: " + e.Message }

// Approve approves every pending approval of an incident and returns how
// many; a *Error with Code "nothing_pending" (409) when there is none.
func (c *Client) Approve(ctx context.Context, id int64) (int, error) {
	var out struct {
		Approved int `json:"approved"`
	}
	err := c.do(ctx, http.MethodPost, fmt.Sprintf("/v1/incidents/%d/approve", id), nil, &out)
	return out.Approved, err
}

// Veto vetoes every pending approval of an incident and returns how many,
// like Approve.
func (c *Client) Veto(ctx context.Context, id int64) (int, error) {
	var out struct {
		Vetoed int `json:"vetoed"`
	}
	err := c.do(ctx, http.MethodPost, fmt.Sprintf("/v1/incidents/%d/veto", id), nil, &out)
	return out.Vetoed, err
}

// Respond asks the server to run one action and returns the incident it
// was recorded on. When the response ran but failed, the incident is
// returned with a *ResponseError.
func (c *Client) Respond(ctx context.Context, req respond.Request) (*incident.Incident, error) {
	var out struct {
		Incident *incident.Incident `json:"incident"`
		Error    string             `json:"error"`
	}
	// The answer comes once the response has run: allow the engine's
	// bound on it, not the client's usual timeout.
	slow := *c
	hc := *c.http
	hc.Timeout = max(hc.Timeout, respondTimeout)
	slow.http = &hc
	if err := slow.do(ctx, http.MethodPost, "/v1/responses", req, &out); err != nil {
		return nil, err
	}
	if out.Incident == nil {
		return nil, fmt.Errorf("POST /v1/responses: the answer names no incident")
	}
	if out.Error != "" {
		return out.Incident, &ResponseError{Message: out.Error}
	}
	return out.Incident, nil
}
