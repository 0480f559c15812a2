// Command handoff-keys prints a new pair of cookie keys for the kit's
// Config.CookieKeys, in the form session.ParseKeys reads:
//
//	go run github.com/handoffkit/handoffkit/cmd/handoff-keys
//
// Given the keys in use, it prints the new pair followed by them, for a
// rotation (new pair first, older pairs after, until their flows expire):
//
//	go run github.com/handoffkit/handoffkit/cmd/handoff-keys "$HANDOFF_COOKIE_KEYS"
//
// Every instance of the app uses the same keys.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/handoffkit/handoffkit/session"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "handoff-keys:", err)
		os.Exit(2)
	}
}

// run writes a new key pair, then the pairs of args[0] if given, to w.
func run(args []string, w io.Writer) error {
	if len(args) > 1 {
		return errors.New("usage: handoff-keys [keys in use, newest first]")
	}
	keys, err := session.GenerateKeys()
	if err != nil {
		return err
	}
	if len(args) == 1 && strings.TrimSpace(args[0]) != "" {
		if _, err := session.ParseKeys(args[0]); err != nil {
			return fmt.Errorf("the keys in use: %w", err)
		}
		keys += "," + strings.TrimSpace(args[0])
	}
	_, err = fmt.Fprintln(w, keys)
	return err
}
