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

func ExampleNewAllowlist() {
	allow, err := urlbuild.NewAllowlist("https://app.example.com/connections/return", "myapp://connections")
	if err != nil {
		panic(err)
	}
	fmt.Println(allow.Contains("myapp://connections"))
	fmt.Println(allow.Contains("myapp://connections/"))

	_, err = urlbuild.NewAllowlist("javascript:alert(1)")
	fmt.Println(err)
	// Output:
	// true
	// false
	// urlbuild: allowlist entry 0: unsafe return URI: scheme not allowed
}
