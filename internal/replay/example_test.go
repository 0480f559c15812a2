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
	g := replay.New(nil, 0)
	// What package session passes: the hex SHA-256 of the state, and the
	// flow's issue time plus its TTL.
	id := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	expiresAt := time.Now().Add(10 * time.Minute)

	fmt.Println(g.Consume(ctx, id, expiresAt))
	err := g.Consume(ctx, id, expiresAt)
	fmt.Println(err, errors.Is(err, replay.ErrReplayed))
	fmt.Println(g.Stats().Entries)
	// Output:
	// <nil>
	// session: state already used true
	// 1
}

// A full guard drops the ids that expire first and refuses, as expired,
// flows expiring no later than them; a fresh flow still succeeds.
func ExampleGuard_Stats() {
	ctx := context.Background()
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	g := replay.New(func() time.Time { return now }, 2)

	fmt.Println(g.Consume(ctx, "a", now.Add(1*time.Minute)))
	fmt.Println(g.Consume(ctx, "b", now.Add(5*time.Minute)))
	fmt.Println(g.Consume(ctx, "c", now.Add(10*time.Minute))) // full: "a" is dropped
	fmt.Println(g.Consume(ctx, "a", now.Add(1*time.Minute)))  // its replay
	s := g.Stats()
	fmt.Println(s.Entries, s.Dropped, s.RefusedUnderPressure, s.Floor.Format(time.TimeOnly))
	// Output:
	// <nil>
	// <nil>
	// <nil>
	// replay: refused as expired: replay guard under pressure: session: flow expired
	// 2 1 1 12:01:00
}
