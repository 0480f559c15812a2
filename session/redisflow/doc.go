// Package redisflow keeps handoff flows consistent across the instances of
// an app on a Redis they share: a [session.ReplayGuard] that makes each
// state single-use fleet-wide ([NewReplayGuard]), and a
// [bluenexus.TokenStore] whose lease makes a user's refresh token spent
// once across the fleet ([NewTokenStore]).
//
//	rdb := redis.NewClient(&redis.Options{Addr: "redis:6379", ContextTimeoutEnabled: true})
//	guard, err := redisflow.NewReplayGuard(rdb)
//	...
//	flows, err := session.New(keys, session.WithReplayGuard(guard))
//	kit, err := handlers.New(cfg, handlers.WithFlows(flows))
//
// The constructors take any [redis.UniversalClient]: a single node, a Redis
// Cluster or a master behind Sentinel; every command touches one key. Give
// every instance [WithReplicas] with the number of replicas each master
// has, so that a failover loses no write, and run Redis with persistence.
// The guard needs Redis 2.6.12 or later, the token store 6.0 or later.
//
// The client needs ContextTimeoutEnabled, so that [WithTimeout] bounds
// each call. Both fail closed: when Redis is down, slow ([WithTimeout],
// 500 ms by default), read-only or out of memory, they return an error wrapping [session.ErrUnavailable], and the
// handlers answer 503. docs/scale.md ("redisflow: what Redis holds, and
// why it fails closed") says why.
//
// This package is a module of its own, so that an app without Redis does
// not require go-redis.
package redisflow
