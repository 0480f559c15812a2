package urlbuild_test

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/handoffkit/handoffkit/urlbuild"
)

func ExampleWhiteLabelURL() {
	base, _ := url.Parse("https://connect.example.com/wl?brand=acme#ignored")
	fmt.Println(urlbuild.WhiteLabelURL(base, "code", "hc_123"))
	// Output: https://connect.example.com/wl?brand=acme&code=hc_123
}

func ExampleRedirectURI() {
	base, _ := url.Parse("https://app.example.com/connections/return?state=stale")
	fmt.Println(urlbuild.RedirectURI(base, "Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9"))
	// Output: https://app.example.com/connections/return?state=Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9
}

func ExampleCheckNext() {
	for _, next := range []string{"/settings/connections", "//evil.example", "/%5cevil.example", "https://evil.example"} {
		err := urlbuild.CheckNext(next)
		fmt.Printf("%-24q safe=%v unsafe=%v\n", next, err == nil, errors.Is(err, urlbuild.ErrUnsafeNext))
	}
	// Output:
	// "/settings/connections"  safe=true unsafe=false
	// "//evil.example"         safe=false unsafe=true
	// "/%5cevil.example"       safe=false unsafe=true
	// "https://evil.example"   safe=false unsafe=true
}

func ExampleCheckReturnURI() {
	for _, uri := range []string{"https://app.example.com/connections/return", "myapp://connections", "http://app.example.com/return", "javascript:alert(1)"} {
		fmt.Printf("%-45q %v\n", uri, urlbuild.CheckReturnURI(uri))
	}
	// Output:
	// "https://app.example.com/connections/return"  <nil>
	// "myapp://connections"                         <nil>
	// "http://app.example.com/return"               urlbuild: unsafe return URI: http is allowed only on loopback (localhost, 127.0.0.0/8, [::1])
	// "javascript:alert(1)"                         urlbuild: unsafe return URI: scheme not allowed
}
