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

// ListOptions selects a page of connections. Zero fields are left out of
// the query, so BlueNexus applies its own defaults (page 1, limit 20).
type ListOptions struct {
	// Page is the 1-based page number; 0 means the first.
	Page int
	// Limit is the page size, 1 to 100; 0 means BlueNexus's default
	// ([Client.AllConnections] uses 100).
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
		return "", fmt.Errorf("%w: %s: Page must be >= 0, got %d", ErrInvalidRequest, op, o.Page)
	case o.Limit < 0 || o.Limit > maxListLimit:
		return "", fmt.Errorf("%w: %s: Limit must be 0 or 1..100, got %d", ErrInvalidRequest, op, o.Limit)
	case o.SortOrder != "" && o.SortOrder != "asc" && o.SortOrder != "desc":
		return "", fmt.Errorf("%w: %s: SortOrder must be asc or desc", ErrInvalidRequest, op)
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
			return "", fmt.Errorf("%w: %s: Filter: %w", ErrInvalidRequest, op, err)
		}
		q["filter"] = []string{string(f)}
	}
	return q.Encode(), nil
}

// ListConnections reads one page of the user's connections:
// GET /api/v1/connections. Both published pagination shapes decode into
// [Pagination]; a bare JSON array is accepted as a single page. Bad options
// fail with [ErrInvalidRequest] before any I/O.
func (c *Client) ListConnections(ctx context.Context, token AccessToken, opts ListOptions) (ConnectionPage, error) {
	const op = "ListConnections"
	if err := checkToken(op, token); err != nil {
		return ConnectionPage{}, err
	}
	q, err := opts.query(op)
	if err != nil {
		return ConnectionPage{}, err
	}
	u := c.connsURL
	u.RawQuery = q
	body, _, err := c.do(ctx, &call{op: op, method: http.MethodGet, url: u, token: token, retry: true})
	if err != nil {
		return ConnectionPage{}, err
	}
	return decodeConnectionPage(body)
}

// AllConnections walks every page from opts.Page (default 1) with
// opts.Limit (default 100) and yields each connection. An error is yielded
// once, with a zero Connection, and ends the walk. Each page is one call with
// its own time budget. The walk stops when the pagination says there is no
// more, on an empty page, once the reported total has been yielded, or with
// [ErrBadResponse] after 10,000 pages, so a server whose pages never end
// cannot hold it forever.
func (c *Client) AllConnections(ctx context.Context, token AccessToken, opts ListOptions) iter.Seq2[Connection, error] {
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
			p, err := c.ListConnections(ctx, token, o)
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
			if len(p.Data) == 0 || !pg.More() || pg.Total > 0 && seen >= pg.Total {
				return
			}
			o.Page++
		}
		yield(Connection{}, fmt.Errorf("%w: AllConnections: more than %d pages", ErrBadResponse, maxPages))
	}
}

// Connection reads one connection: GET /api/v1/connections/{id}. The id is
// path-escaped; an empty id, "." or ".." fails with [ErrInvalidRequest].
func (c *Client) Connection(ctx context.Context, token AccessToken, id string) (Connection, error) {
	const op = "Connection"
	u, err := c.connectionURL(op, token, id, "")
	if err != nil {
		return Connection{}, err
	}
	body, _, err := c.do(ctx, &call{op: op, method: http.MethodGet, url: u, token: token, retry: true})
	if err != nil {
		return Connection{}, err
	}
	return decodeConnection(op, body)
}

// RefreshConnection asks BlueNexus to re-authorise the provider tokens of
// one connection: PUT /api/v1/connections/{id}/refresh. It returns the
// updated connection. It is never resent (not idempotent as far as the
// published contract says).
func (c *Client) RefreshConnection(ctx context.Context, token AccessToken, id string) (Connection, error) {
	const op = "RefreshConnection"
	u, err := c.connectionURL(op, token, id, "/refresh")
	if err != nil {
		return Connection{}, err
	}
	body, _, err := c.do(ctx, &call{op: op, method: http.MethodPut, url: u, token: token})
	if err != nil {
		return Connection{}, err
	}
	return decodeConnection(op, body)
}

// connectionURL validates the arguments and builds
// {base}/api/v1/connections/{escaped id}{suffix}.
func (c *Client) connectionURL(op string, token AccessToken, id, suffix string) (url.URL, error) {
	if err := checkToken(op, token); err != nil {
		return url.URL{}, err
	}
	if id == "" || id == "." || id == ".." {
		return url.URL{}, fmt.Errorf("%w: %s: bad connection id", ErrInvalidRequest, op)
	}
	u := c.connsURL
	u.Path = c.connsURL.Path + "/" + id + suffix
	u.RawPath = c.connsEscPath + "/" + url.PathEscape(id) + suffix
	return u, nil
}

// decodeConnectionPage reads a list response: {"data": [...],
// "pagination": {...}}, or a bare array.
func decodeConnectionPage(body []byte) (ConnectionPage, error) {
	var p ConnectionPage
	var err error
	if firstByte(body) == '[' {
		err = json.Unmarshal(body, &p.Data)
	} else {
		err = json.Unmarshal(body, &p)
	}
	if err != nil {
		return ConnectionPage{}, fmt.Errorf("%w: ListConnections: malformed JSON", ErrBadResponse)
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
