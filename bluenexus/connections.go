package bluenexus

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
)

// ListOptions selects and orders the connections [Client.AllConnections]
// lists. Empty fields are left out of the query, so BlueNexus applies its
// own defaults.
type ListOptions struct {
	// Page is the 1-based page to start from; 0 means the first.
	Page int
	// Limit is the page size, 1 to 100; 0 means 100.
	Limit int
	// SortBy names the field to sort on, such as "createdAt".
	SortBy string
	// SortOrder is "asc" or "desc".
	SortOrder string
	// Filter is sent as URL-encoded JSON, such as {"status":"active"}.
	Filter map[string]string
}

// maxListLimit is the largest page BlueNexus serves.
const maxListLimit = 100

// maxPages bounds AllConnections against a server whose pages never end.
const maxPages = 10_000

// query validates o and encodes it.
func (o ListOptions) query(op string) (string, error) {
	switch {
	case o.Page < 0:
		return "", fmt.Errorf("bluenexus: %s: ListOptions.Page must be >= 0, got %d", op, o.Page)
	case o.Limit < 0 || o.Limit > maxListLimit:
		return "", fmt.Errorf("bluenexus: %s: ListOptions.Limit must be 0 or 1..100, got %d", op, o.Limit)
	case o.SortOrder != "" && o.SortOrder != "asc" && o.SortOrder != "desc":
		return "", fmt.Errorf("bluenexus: %s: ListOptions.SortOrder must be asc or desc", op)
	}
	q := make(url.Values, 5)
	if o.Page > 0 {
		q["page"] = []string{strconv.Itoa(o.Page)}
	}
	if o.Limit > 0 {
		q["limit"] = []string{strconv.Itoa(o.Limit)}
	}
	if o.SortBy != "" {
		q["sortBy"] = []string{o.SortBy}
	}
	if o.SortOrder != "" {
		q["sortOrder"] = []string{o.SortOrder}
	}
	if len(o.Filter) > 0 {
		f, err := json.Marshal(o.Filter) // keys sorted: a stable URL
		if err != nil {
			return "", fmt.Errorf("bluenexus: %s: ListOptions.Filter: %w", op, err)
		}
		q["filter"] = []string{string(f)}
	}
	return q.Encode(), nil
}

// pagination describes one page of a list. BlueNexus publishes two shapes,
// {page, limit, total, hasMore} and {page, limit, total, pages, hasNext,
// hasPrev}; both decode into this struct, and more reads either.
type pagination struct {
	Page    int   `json:"page"`
	Limit   int   `json:"limit"`
	Total   int   `json:"total"`
	Pages   int   `json:"pages,omitempty"`
	HasMore *bool `json:"hasMore,omitempty"`
	HasNext *bool `json:"hasNext,omitempty"`
	HasPrev *bool `json:"hasPrev,omitempty"`
}

// more reports whether a page follows this one, from whichever shape was sent.
func (p pagination) more() bool {
	switch {
	case p.HasMore != nil:
		return *p.HasMore
	case p.HasNext != nil:
		return *p.HasNext
	case p.Pages > 0:
		return p.Page < p.Pages
	default:
		return p.Limit > 0 && p.Page*p.Limit < p.Total
	}
}

// connectionPage is one page of the connections list.
type connectionPage struct {
	Data       []Connection `json:"data"`
	Pagination pagination   `json:"pagination"`
}

// listConnections reads one page of the user's connections:
// GET /api/v1/connections. Both published pagination shapes decode; a bare
// JSON array is accepted as a single page. op names the public method for
// errors.
func (c *Client) listConnections(ctx context.Context, op string, token AccessToken, opts ListOptions) (connectionPage, error) {
	if err := checkToken(op, token); err != nil {
		return connectionPage{}, err
	}
	q, err := opts.query(op)
	if err != nil {
		return connectionPage{}, err
	}
	u := c.connsURL
	if q != "" {
		u += "?" + q
	}
	a, err := c.do(ctx, c.bearerCall(op, http.MethodGet, u, token, retryDialOrAsked))
	if err != nil {
		return connectionPage{}, err
	}
	return decodeConnectionPage(op, a.body)
}

// AllConnections yields the user's connections, walking every page of
// GET /api/v1/connections from opts.Page with opts.Limit (default 100). An
// error is yielded once and ends the walk; each page has its own budget.
func (c *Client) AllConnections(ctx context.Context, token AccessToken, opts ListOptions) iter.Seq2[Connection, error] {
	const op = "AllConnections"
	return func(yield func(Connection, error) bool) {
		o := opts
		if o.Page == 0 {
			o.Page = 1
		}
		if o.Limit == 0 {
			o.Limit = maxListLimit
		}
		seen := 0
		for range maxPages {
			p, err := c.listConnections(ctx, op, token, o)
			if err != nil {
				yield(Connection{}, err)
				return
			}
			for _, conn := range p.Data {
				if !yield(conn, nil) {
					return
				}
			}
			seen += len(p.Data)
			pg := p.Pagination
			if len(p.Data) == 0 || !pg.more() || pg.Total > 0 && seen >= pg.Total {
				return
			}
			o.Page++
		}
		yield(Connection{}, fmt.Errorf("%w: %s: more than %d pages", ErrBadResponse, op, maxPages))
	}
}

// Connection reads one connection: GET /api/v1/connections/{id}. The id is
// path-escaped as one segment; an empty id, "." or "..", or a bad token,
// fails before any I/O. The connection may come bare or inside "data"; one
// without an id is [ErrBadResponse].
func (c *Client) Connection(ctx context.Context, token AccessToken, id string) (Connection, error) {
	const op = "Connection"
	u, err := c.connectionURL(op, token, id, "")
	if err != nil {
		return Connection{}, err
	}
	a, err := c.do(ctx, c.bearerCall(op, http.MethodGet, u, token, retryDialOrAsked))
	if err != nil {
		return Connection{}, err
	}
	return decodeConnection(op, a.body)
}

// RefreshConnection asks BlueNexus to re-authorise the provider tokens of
// one connection: PUT /api/v1/connections/{id}/refresh. It returns the
// updated connection. Arguments are checked as for [Client.Connection]. It
// is never resent (not idempotent as far as the published contract says).
func (c *Client) RefreshConnection(ctx context.Context, token AccessToken, id string) (Connection, error) {
	const op = "RefreshConnection"
	u, err := c.connectionURL(op, token, id, "/refresh")
	if err != nil {
		return Connection{}, err
	}
	a, err := c.do(ctx, c.bearerCall(op, http.MethodPut, u, token, noRetry))
	if err != nil {
		return Connection{}, err
	}
	return decodeConnection(op, a.body)
}

// bearerCall is a call of the Connections API, without a body.
func (c *Client) bearerCall(op, method, u string, token AccessToken, retry retryPolicy) *call {
	return &call{
		op:      op,
		method:  method,
		url:     u,
		auth:    "Bearer " + token.Reveal(),
		retry:   retry,
		secrets: func() []string { return bearerSecrets(token, "") },
	}
}

// connectionURL validates the arguments and builds
// {base}/api/v1/connections/{escaped id}{suffix}.
func (c *Client) connectionURL(op string, token AccessToken, id, suffix string) (string, error) {
	if err := checkToken(op, token); err != nil {
		return "", err
	}
	if id == "" || id == "." || id == ".." {
		return "", fmt.Errorf("bluenexus: %s: connection id must not be empty, \".\" or \"..\"", op)
	}
	return c.connsURL + "/" + url.PathEscape(id) + suffix, nil
}

// decodeConnectionPage reads a list response: {"data": [...],
// "pagination": {...}}, or a bare array.
func decodeConnectionPage(op string, body []byte) (connectionPage, error) {
	var p connectionPage
	var err error
	if firstByte(body) == '[' {
		err = json.Unmarshal(body, &p.Data)
	} else {
		err = json.Unmarshal(body, &p)
	}
	if err != nil {
		return connectionPage{}, fmt.Errorf("%w: %s: malformed JSON", ErrBadResponse, op)
	}
	return p, nil
}

// connectionResponse accepts a connection bare or inside "data".
type connectionResponse struct {
	Connection
	Data *Connection `json:"data"`
}

func decodeConnection(op string, body []byte) (Connection, error) {
	var r connectionResponse
	if json.Unmarshal(body, &r) != nil {
		return Connection{}, fmt.Errorf("%w: %s: malformed JSON", ErrBadResponse, op)
	}
	conn := r.Connection
	if r.Data != nil {
		conn = *r.Data
	}
	if conn.ID == "" {
		return Connection{}, fmt.Errorf("%w: %s: no connection id in the response", ErrBadResponse, op)
	}
	return conn, nil
}
