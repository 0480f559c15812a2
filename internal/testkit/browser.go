package testkit

import (
	"maps"
	"net/http"
	"net/http/httptest"
)

// Browser carries cookies between direct handler calls, like a cookie jar
// that keeps every cookie regardless of domain or path.
type Browser struct {
	// Cookies maps each cookie's name to its value.
	Cookies map[string]string
	// Last is the last response passed to Keep, for header checks.
	Last *http.Response
}

// NewBrowser returns a Browser holding no cookies.
func NewBrowser() *Browser {
	return &Browser{Cookies: map[string]string{}}
}

// Copy returns a second Browser holding the same cookies: an old copy.
func (b *Browser) Copy() *Browser {
	c := NewBrowser()
	maps.Copy(c.Cookies, b.Cookies)
	return c
}

// Request returns a server-side request for method and url that carries
// the browser's cookies.
func (b *Browser) Request(method, url string) *http.Request {
	r := httptest.NewRequest(method, url, nil)
	for name, v := range b.Cookies {
		r.AddCookie(&http.Cookie{Name: name, Value: v})
	}
	return r
}

// Keep records rec's response as Last and applies its Set-Cookie headers:
// a cookie with a negative MaxAge is deleted, any other is stored.
func (b *Browser) Keep(rec *httptest.ResponseRecorder) {
	b.Last = rec.Result()
	for _, c := range b.Last.Cookies() {
		if c.MaxAge < 0 {
			delete(b.Cookies, c.Name)
		} else {
			b.Cookies[c.Name] = c.Value
		}
	}
}
