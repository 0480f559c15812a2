package replay_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/handoffkit/handoffkit/internal/replay"
)

func Example() {
	ctx := context.Background()
	g := replay.New(time.Now, replay.DefaultMaxEntries)
	// What package session passes: the hex SHA-256 of the state, and the
	// flow's issue time plus its TTL.
	id := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	expiresAt := time.Now().Add(10 * time.Minute)

	fmt.Println(g.Consume(ctx, id, expiresAt))
	err := g.Consume(ctx, id, expiresAt)
	fmt.Println(err, errors.Is(err, replay.ErrReplayed))
	// Output:
	// <nil>
	// session: state already used true
}

// A full guard drops the ids that expire first and refuses, as expired,
// flows expiring no later than them; a fresh flow still succeeds.
func ExampleGuard_Consume_full() {
	ctx := context.Background()
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	g := replay.New(func() time.Time { return now }, 2)

	fmt.Println(g.Consume(ctx, "a", now.Add(1*time.Minute)))
	fmt.Println(g.Consume(ctx, "b", now.Add(5*time.Minute)))
	fmt.Println(g.Consume(ctx, "c", now.Add(10*time.Minute))) // full: "a" is dropped
	fmt.Println(g.Consume(ctx, "a", now.Add(1*time.Minute)))  // its replay
	fmt.Println(g.Consume(ctx, "b", now.Add(5*time.Minute)))  // kept: a replay
	// Output:
	// <nil>
	// <nil>
	// <nil>
	// replay: refused as expired: replay guard under pressure: session: flow expired
	// session: state already used
}
