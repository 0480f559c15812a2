package session_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/handoffkit/handoffkit/session"
)

// Keys are made once, kept in the app's configuration or secret store, and
// parsed at start-up. To rotate, put a new pair in front of the old one.
func ExampleParseKeys() {
	generated, err := session.GenerateKeys() // once, for the configuration
	if err != nil {
		panic(err)
	}
	keys, err := session.ParseKeys(generated)
	fmt.Println(len(keys), len(keys[0].Hash), len(keys[0].Block), err)

	_, err = session.ParseKeys("not-hex:00")
	fmt.Println(err)
	_, err = session.ParseKeys(strings.Repeat("00", 32) + ":" + strings.Repeat("00", 32))
	fmt.Println(err)
	// Output:
	// 1 32 32 <nil>
	// session: ParseKeys: pair 0: want hashkey:blockkey in hex
	// session: ParseKeys: pair 0: key is all zeros
}

// A Manager with other defaults, for handlers.WithFlows.
func ExampleNew() {
	keys, err := session.ParseKeys(strings.Repeat("5a", 32) + ":" + strings.Repeat("a5", 32))
	if err != nil {
		panic(err)
	}
	_, err = session.New(keys, session.WithTTL(5*time.Minute))
	fmt.Println(err)
	_, err = session.New(keys, session.WithTTL(0))
	fmt.Println(err)
	_, err = session.New(keys, session.WithReplayGuard(nil))
	fmt.Println(err)
	_, err = session.New(keys, session.WithClock(nil))
	fmt.Println(err)
	_, err = session.New(keys, nil)
	fmt.Println(err)
	_, err = session.New(nil)
	fmt.Println(err)
	// Output:
	// <nil>
	// session: WithTTL: 0s is not from 1s to 1h
	// session: WithReplayGuard: nil guard
	// session: WithClock: nil clock
	// session: New: nil Option
	// session: New: no key pairs
}
