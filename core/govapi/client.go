package govapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/cocoledger/coco/core/gov"
)

// Client talks to one node's /gov/ endpoints.
type Client struct {
	URL  string // node base URL, e.g. http://127.0.0.1:8545
	HTTP *http.Client
}

// StatusError is a non-2xx answer: the node's reason and, for a refused
// request, its recorded result.
type StatusError struct {
	Status int
	Reason string
	Result *gov.Result
}

func (e *StatusError) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.Reason, e.Status) }

func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.URL, "/")+"/gov"+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		var e Error
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		return resp.StatusCode, &StatusError{Status: resp.StatusCode, Reason: e.Error, Result: e.Result}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s: %w", path, err)
		}
	}
	return resp.StatusCode, nil
}

// Get reads one of the GET endpoints into out.
func (c *Client) Get(ctx context.Context, path string, out any) error {
	_, err := c.do(ctx, http.MethodGet, path, nil, out)
	return err
}

// Info returns the network name and the height to sign against.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var i Info
	return i, c.Get(ctx, "/info", &i)
}

// Submit sends a signed request and returns its result once executed. A
// refused request returns a *StatusError carrying the result; a request
// still unordered when the node stops waiting returns a result with only
// its id and pending set.
func (c *Client) Submit(ctx context.Context, s *gov.Signed) (res *gov.Result, pending bool, err error) {
	res = &gov.Result{}
	status, err := c.do(ctx, http.MethodPost, "/requests", s.Encode(), res)
	return res, status == http.StatusAccepted, err
}

// Sign fetches the network and height, then signs and submits a request.
func (c *Client) Sign(ctx context.Context, k *gov.MemberKey, r *gov.Request) (*gov.Signed, *gov.Result, bool, error) {
	info, err := c.Info(ctx)
	if err != nil {
		return nil, nil, false, err
	}
	r.Network, r.Height = info.Network, info.Height
	s, err := k.Sign(r)
	if err != nil {
		return nil, nil, false, err
	}
	res, pending, err := c.Submit(ctx, s)
	return s, res, pending, err
}
