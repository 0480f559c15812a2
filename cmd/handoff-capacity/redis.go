package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// info returns the "name:value" fields of INFO section.
func info(ctx context.Context, rdb *redis.Client, section string) (map[string]string, error) {
	s, err := rdb.Info(ctx, section).Result()
	if err != nil {
		return nil, err
	}
	fields := map[string]string{}
	for line := range strings.Lines(s) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && !strings.HasPrefix(k, "#") {
			fields[k] = v
		}
	}
	return fields, nil
}

// usedMemory is INFO memory's used_memory less what the clients' buffers
// hold (mem_clients_normal), in bytes: what the keys take, with the
// keyspace's hash tables, but not the connections the measuring opened.
func usedMemory(ctx context.Context, rdb *redis.Client) (int64, error) {
	f, err := info(ctx, rdb, "memory")
	if err != nil {
		return 0, err
	}
	used, err1 := strconv.ParseInt(f["used_memory"], 10, 64)
	clients, err2 := strconv.ParseInt(f["mem_clients_normal"], 10, 64)
	return used - clients, errors.Join(err1, err2)
}

// cpuSeconds is the CPU time Redis has used, user and system.
func cpuSeconds(ctx context.Context, rdb *redis.Client) (float64, error) {
	f, err := info(ctx, rdb, "cpu")
	if err != nil {
		return 0, err
	}
	user, err1 := strconv.ParseFloat(f["used_cpu_user"], 64)
	sys, err2 := strconv.ParseFloat(f["used_cpu_sys"], 64)
	return user + sys, errors.Join(err1, err2)
}

// commandStats is INFO commandstats: the calls of each command so far.
func commandStats(ctx context.Context, rdb *redis.Client) (map[string]int64, error) {
	f, err := info(ctx, rdb, "commandstats")
	if err != nil {
		return nil, err
	}
	calls := map[string]int64{}
	for k, v := range f {
		name, ok := strings.CutPrefix(k, "cmdstat_")
		if !ok {
			continue
		}
		for field := range strings.SplitSeq(v, ",") {
			if n, ok := strings.CutPrefix(field, "calls="); ok {
				calls[name], _ = strconv.ParseInt(n, 10, 64)
			}
		}
	}
	return calls, nil
}

// housekeeping are the commands of this tool's measuring (INFO) and of a
// new connection's set-up, never part of a request's cost.
var housekeeping = []string{"info", "hello", "ping", "client|setinfo"}

// mix is the Redis commands one request costs, by command name.
type mix map[string]float64

// measureMix returns what n requests cost in Redis, per request: the
// difference of INFO commandstats around do, which must be the only
// client of Redis meanwhile. The housekeeping commands are left out.
func measureMix(ctx context.Context, rdb *redis.Client, n int, do func() error) (mix, error) {
	before, err := commandStats(ctx, rdb)
	if err != nil {
		return nil, err
	}
	if err := do(); err != nil {
		return nil, err
	}
	after, err := commandStats(ctx, rdb)
	if err != nil {
		return nil, err
	}
	m := mix{}
	for name, calls := range after {
		if d := calls - before[name]; d > 0 && !slices.Contains(housekeeping, name) {
			m[name] = float64(d) / float64(n)
		}
	}
	return m, nil
}

func (m mix) String() string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	total := 0.0
	for _, name := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %.2f", strings.ToUpper(name), m[name]))
		total += m[name]
	}
	return fmt.Sprintf("%s (%.2f commands)", strings.Join(parts, ", "), total)
}

// matches reports whether two mixes have the same commands, within 0.05
// call per request.
func (m mix) matches(o mix) bool {
	for _, name := range slices.Concat(slices.Collect(maps.Keys(m)), slices.Collect(maps.Keys(o))) {
		if math.Abs(m[name]-o[name]) > 0.05 {
			return false
		}
	}
	return true
}

// mixer drives a return's Redis commands straight at Redis, without the
// app: what the kit sends (returnMix), with keys and values of the same
// sizes. A manage sends none while the token is cached.
type mixer struct {
	rdb     *redis.Client
	usedPfx string // the guard's key prefix
	ttl     time.Duration
}

// The commands the kit sends for a return, as returnMix sends them; verify
// checks them against INFO commandstats of the real requests.
const returnMixText = "SET of the used state NX PX (the guard)"

// returnMix is one return's commands for used state key used.
func (m *mixer) returnMix(ctx context.Context, used string) error {
	if ok, err := m.rdb.SetNX(ctx, used, rand.Text(), m.ttl).Result(); err != nil || !ok {
		return fmt.Errorf("SET used state NX: %v, %v", ok, err)
	}
	return nil
}

// keys returns n fresh key names under prefix, shaped as the kit's: the
// prefix and 64 hexadecimal digits.
func keys(prefix string, n int) []string {
	ks := make([]string, n)
	for i := range ks {
		var b [32]byte
		rand.Read(b[:])
		sum := sha256.Sum256(b[:])
		ks[i] = prefix + hex.EncodeToString(sum[:])
	}
	return ks
}

// delAll deletes every key, in pipelines.
func delAll(ctx context.Context, rdb *redis.Client, ks []string) error {
	for chunk := range slices.Chunk(ks, 1000) {
		if err := rdb.Del(ctx, chunk...).Err(); err != nil {
			return err
		}
	}
	return nil
}

// verify sends n returns' worth of commands one at a time and returns
// what INFO commandstats counted per return.
func (m *mixer) verify(ctx context.Context, admin *redis.Client, n int) (mix, error) {
	used := keys(m.usedPfx, n)
	defer delAll(context.WithoutCancel(ctx), admin, used)
	return measureMix(ctx, admin, n, func() error {
		for i := range n {
			if err := m.returnMix(ctx, used[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// step runs one open-loop step of rate returns per second for d, each
// return's commands in sequence on the mixer's pool, as one app request
// sends them.
func (m *mixer) step(ctx context.Context, admin *redis.Client, rate float64, d, timeout time.Duration) (step, error) {
	n := max(1, int(rate*d.Seconds()))
	used := keys(m.usedPfx, n)
	defer delAll(context.WithoutCancel(ctx), admin, used)
	return withRedisCPU(ctx, admin, func() step {
		return openLoop(ctx, rate, n, func(ctx context.Context, i int) error {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			return m.returnMix(ctx, used[i])
		})
	})
}

// deletePrefix deletes every key that starts with prefix.
func deletePrefix(ctx context.Context, rdb *redis.Client, prefix string) error {
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		if batch = append(batch, iter.Val()); len(batch) == 1000 {
			if err := rdb.Del(ctx, batch...).Err(); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		if err := rdb.Del(ctx, batch...).Err(); err != nil {
			return err
		}
	}
	return iter.Err()
}

// firstKey returns a key that starts with prefix, or "" when there is none.
func firstKey(ctx context.Context, rdb *redis.Client, prefix string) (string, error) {
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	if iter.Next(ctx) {
		return iter.Val(), nil
	}
	return "", iter.Err()
}
