package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/handoffkit/handoffkit/session/redisflow"
)

// memRow is what one kind of key costs in Redis.
type memRow struct {
	kind     string
	keys     int64   // keys the kind added (DBSIZE delta)
	perKey   float64 // used_memory delta over the keys added
	usage    int64   // MEMORY USAGE of one key
	valueLen int64   // STRLEN of its value
	ttl      time.Duration
}

// measureMemory writes n keys of each kind the kit keeps, with the kit's
// own code, and measures each kind on its own: the keys of one kind are
// deleted, and Redis given a second to shrink its tables, before the next.
func (e *env) measureMemory(ctx context.Context, w io.Writer, n int) ([]memRow, error) {
	tokenStore, err := redisflow.NewTokenStore(e.admin, redisflow.WithKeyPrefix(e.prefix+"token:"))
	if err != nil {
		return nil, err
	}
	guard, err := redisflow.NewReplayGuard(e.admin, redisflow.WithKeyPrefix(e.prefix+"used:"))
	if err != nil {
		return nil, err
	}
	users := make([]string, n)
	for i := range users {
		users[i] = fmt.Sprintf("mem-user-%06d", i)
	}
	tokenKey := func(user string) string { // the token store's documented layout
		sum := sha256.Sum256([]byte(user))
		return e.prefix + "token:{" + hex.EncodeToString(sum[:]) + "}"
	}
	const workers = 16
	var rows []memRow
	measure := func(kind string, sample func() (string, error), create func(ctx context.Context, i int) error, cleanup func(context.Context) error) error {
		if err := settle(ctx, e.admin); err != nil {
			return err
		}
		mem0, err1 := usedMemory(ctx, e.admin)
		size0, err2 := e.admin.DBSize(ctx).Result()
		if err := firstErr(err1, err2); err != nil {
			return err
		}
		if err := parallel(ctx, n, workers, create); err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		mem1, err1 := usedMemory(ctx, e.admin)
		size1, err2 := e.admin.DBSize(ctx).Result()
		if err := firstErr(err1, err2); err != nil {
			return err
		}
		key, err := sample()
		if err != nil || key == "" {
			return fmt.Errorf("%s: no key to sample: %v", kind, err)
		}
		row := memRow{kind: kind, keys: size1 - size0}
		if row.keys > 0 {
			row.perKey = float64(mem1-mem0) / float64(row.keys)
		}
		row.usage, err1 = e.admin.MemoryUsage(ctx, key).Result()
		row.valueLen, err2 = e.admin.StrLen(ctx, key).Result()
		row.ttl, err = e.admin.PTTL(ctx, key).Result()
		if err := firstErr(err1, err2, err); err != nil {
			return err
		}
		rows = append(rows, row)
		return cleanup(ctx)
	}

	// Pending flows hold nothing in Redis: their state carries them.
	// Used states: the guard's Consume of a nonce's SHA-256, as the
	// Manager calls it, with the default flow TTL.
	var sampleState string
	err = measure("used state (guard key)",
		func() (string, error) { return e.prefix + "used:" + sampleState, nil },
		func(ctx context.Context, i int) error {
			sum := sha256.Sum256([]byte(rand.Text()))
			id := hex.EncodeToString(sum[:])
			if i == 0 {
				sampleState = id
			}
			return guard.Consume(ctx, id, time.Now().Add(10*time.Minute))
		}, func(ctx context.Context) error { return deletePrefix(ctx, e.admin, e.prefix+"used:") })
	if err != nil {
		return nil, err
	}
	// Token pairs: a sign-in's pair (the emulator's tokens), stored as the
	// app stores it when the user signs in, then leased as for a refresh
	// (the lease lives in the pair's own key).
	err = measure("token pair (leased)",
		func() (string, error) { return tokenKey(users[0]), nil },
		func(ctx context.Context, i int) error {
			pair := e.emu.SignIn(users[i])
			if err := tokenStore.Save(ctx, users[i], pair); err != nil {
				return err
			}
			ok, err := tokenStore.Lease(ctx, users[i], pair.RefreshToken, "capacity-"+users[i], 45*time.Second)
			if err == nil && !ok {
				err = fmt.Errorf("lease of %s refused", users[i])
			}
			return err
		}, func(ctx context.Context) error {
			ks := make([]string, 0, n)
			for _, u := range users {
				ks = append(ks, tokenKey(u))
			}
			return delAll(ctx, e.admin, ks)
		})
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// settle waits until Redis has had a second of its background jobs
// (serverCron shrinks the hash tables of deleted keys at hz 10) and
// used_memory has stopped moving, for at most 5 s.
func settle(ctx context.Context, rdb *redis.Client) error {
	prev := int64(-1)
	for range 10 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		m, err := usedMemory(ctx, rdb)
		if err != nil {
			return err
		}
		if m == prev {
			return nil
		}
		prev = m
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
