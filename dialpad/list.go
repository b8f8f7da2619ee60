package dialpad

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// maxPages stops a list whose server keeps inventing new cursors.
const maxPages = 10000

// page is the shape of every Dialpad collection response.
type page[T any] struct {
	Items  []T    `json:"items"`
	Cursor string `json:"cursor"`
}

// listAll GETs path page by page, following the cursor until a page carries
// none, and returns every item. A cursor that comes back a second time is an
// error, not an endless loop.
func listAll[T any](ctx context.Context, c *Client, op, path string) ([]T, error) {
	all := []T{}
	seen := make(map[string]bool)
	cursor := ""
	for range maxPages {
		var q url.Values
		if cursor != "" {
			q = url.Values{"cursor": {cursor}}
		}
		var p page[T]
		if err := c.do(ctx, op, http.MethodGet, path, q, nil, &p); err != nil {
			return nil, err
		}
		all = append(all, p.Items...)
		if p.Cursor == "" {
			return all, nil
		}
		if seen[p.Cursor] {
			return nil, errf(op, fmt.Errorf("server repeated a list cursor after %d pages", len(seen)+1))
		}
		seen[p.Cursor] = true
		cursor = p.Cursor
	}
	return nil, errf(op, errors.New("list did not end within the page limit"))
}
