package bluenexus

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"strconv"
)

// maxPages bounds AllConnections against a server whose pages never end.
const maxPages = 10_000

// connectionPage is one page of the connections list. BlueNexus publishes
// two pagination shapes, {page, limit, total, hasMore} and {page, limit,
// total, pages, hasNext, hasPrev}; both decode here.
type connectionPage struct {
	Data       []Connection `json:"data"`
	Pagination struct {
		Page    int   `json:"page"`
		Limit   int   `json:"limit"`
		Total   int   `json:"total"`
		Pages   int   `json:"pages"`
		HasMore *bool `json:"hasMore"`
		HasNext *bool `json:"hasNext"`
	} `json:"pagination"`
}

// more reports whether a page follows this one, from whichever shape was sent.
func (p *connectionPage) more() bool {
	pg := p.Pagination
	switch {
	case pg.HasMore != nil:
		return *pg.HasMore
	case pg.HasNext != nil:
		return *pg.HasNext
	case pg.Pages > 0:
		return pg.Page < pg.Pages
	default:
		return pg.Limit > 0 && pg.Page*pg.Limit < pg.Total
	}
}

// AllConnections yields the user's connections, walking every page of
// GET /api/v1/connections, 100 a page. An error is yielded once and ends
// the walk; each page has its own budget.
func (c *Client) AllConnections(ctx context.Context, token AccessToken) iter.Seq2[Connection, error] {
	const op = "AllConnections"
	return func(yield func(Connection, error) bool) {
		seen := 0
		for page := 1; page <= maxPages; page++ {
			var p connectionPage
			if err := c.bearerJSON(ctx, op, c.connsURL+"?limit=100&page="+strconv.Itoa(page), token, &p); err != nil {
				yield(Connection{}, err)
				return
			}
			for _, conn := range p.Data {
				if !yield(conn, nil) {
					return
				}
			}
			seen += len(p.Data)
			if len(p.Data) == 0 || !p.more() || p.Pagination.Total > 0 && seen >= p.Pagination.Total {
				return
			}
		}
		yield(Connection{}, fmt.Errorf("%w: %s: more than %d pages", ErrBadResponse, op, maxPages))
	}
}

// bearerJSON checks token, runs a GET authorised by it and decodes the
// answer into v.
func (c *Client) bearerJSON(ctx context.Context, op, url string, token AccessToken, v any) error {
	if err := checkToken(op, token); err != nil {
		return err
	}
	a, err := c.do(ctx, &call{
		op:         op,
		method:     http.MethodGet,
		url:        url,
		auth:       "Bearer " + token.Reveal(),
		retryAsked: true,
		secrets:    func() []string { return bearerSecrets(token, "") },
	})
	if err != nil {
		return err
	}
	if json.Unmarshal(a.body, v) != nil {
		return fmt.Errorf("%w: %s: malformed JSON", ErrBadResponse, op)
	}
	return nil
}
