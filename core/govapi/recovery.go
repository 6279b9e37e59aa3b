package govapi

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/cocoledger/coco/core/gov"
	"github.com/cocoledger/coco/core/node"
)

// RecoveryHandler serves /gov/recovery on a node restoring a lost network:
// GET tells members who the node is (attested keys) and which shares it
// still needs; POST takes one member's signed share.
func RecoveryHandler(r *node.Recovery) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch req.Method {
		case http.MethodGet:
			info, err := r.Info()
			if err != nil {
				writeError(w, http.StatusInternalServerError, err, nil)
				return
			}
			writeJSON(w, http.StatusOK, info)
		case http.MethodPost:
			body, err := io.ReadAll(io.LimitReader(req.Body, gov.MaxRequestSize+1))
			if err != nil {
				writeError(w, http.StatusBadRequest, err, nil)
				return
			}
			if err := r.Submit(body); err != nil {
				writeError(w, http.StatusUnprocessableEntity, err, nil)
				return
			}
			info, _ := r.Info()
			writeJSON(w, http.StatusOK, info)
		default:
			writeError(w, http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed", req.Method), nil)
		}
	})
}

// RecoveryInfo reads a recovering node's /gov/recovery.
func (c *Client) RecoveryInfo(ctx context.Context) (node.RecoveryInfo, error) {
	var ri node.RecoveryInfo
	return ri, c.Get(ctx, "/recovery", &ri)
}

// SubmitRecoveryShare posts a signed share and returns the node's updated
// needs.
func (c *Client) SubmitRecoveryShare(ctx context.Context, s *gov.Signed) (node.RecoveryInfo, error) {
	var ri node.RecoveryInfo
	_, err := c.do(ctx, http.MethodPost, "/recovery", s.Encode(), &ri)
	return ri, err
}
