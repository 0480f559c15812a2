// Package redisflow keeps handoff flows consistent across the instances of
// an app behind a load balancer, on a Redis they share: a
// [session.ReplayGuard] that makes each state single-use fleet-wide
// ([NewReplayGuard]), and a [bluenexus.TokenStore] whose lease makes a
// user's refresh token spent once across the fleet ([NewTokenStore]).
//
// With the same cookie keys on every instance, a flow begun on one instance
// already finishes on any other: the flow travels sealed in its state. What
// a sealed state cannot do is forget: it stays valid until it expires. The
// session package's default in-memory guard refuses a second use only on
// the instance that saw the first (and only until it restarts).
// [NewReplayGuard] records used states in Redis, so every instance refuses
// them:
//
//	rdb := redis.NewClient(&redis.Options{Addr: "redis:6379", ContextTimeoutEnabled: true})
//	guard, err := redisflow.NewReplayGuard(rdb)
//	...
//	flows, err := session.New(keys, session.WithReplayGuard(guard))
//	kit, err := handlers.New(cfg, handlers.WithFlows(flows))
//
// # What Redis holds
//
// The guard writes one key per finished flow: the prefix "handoffkit:used:" followed
// by the id the Manager passes, which is the hex SHA-256 of the flow's
// nonce, never the state itself (the guard refuses any id that is not 64
// hexadecimal digits, so a state cannot get there by mistake). The key expires when the
// flow would have, by the Manager's clock: SET key nonce NX PX
// remaining-life. The guard holds nothing once the TTL (10 minutes by
// default) has passed, and needs no cleanup.
//
// The guard needs Redis 2.6.12 or later (or a compatible server), the token store
// Redis 6.0 or later (SET KEEPTTL), and each touches one
// key per command.
//
// # Redis Cluster and Sentinel
//
// The constructors take any [redis.UniversalClient]: a single node
// (redis.NewClient), a Redis Cluster (redis.NewClusterClient) or a master
// found through Sentinel (redis.NewFailoverClient). Every command touches
// one key, so a cluster spreads the states and token pairs over its
// masters; a token pair and its lease are one key.
//
// Redis replicates asynchronously. A write that the master acknowledged
// and lost before a replica copied it is gone after a failover: a used
// state that lets a replay through, a lease that lets a second instance
// spend the same refresh token. Give every instance [WithReplicas] with
// the number of replicas each master has: each write then waits, with
// WAIT on the connection that made it, until the replicas acknowledged it,
// and fails closed otherwise. With one replica, a master that dies leaves
// none until it comes back as a replica: requests fail closed meanwhile
// (docs/scale.md measures it); two replicas and WithReplicas(1) keep
// writing through the loss of one node.
//
// A node that restarts must come back with its data: run it with
// persistence (appendonly yes) or as a replica. A Redis that restarts
// empty forgets the states used within the last TTL, as the in-memory
// guard does on restart (a used state could then finish its flow once
// more), and the token pairs (users sign in again).
//
// # Failing closed
//
// When Redis is down, slow (each call is bounded by [WithTimeout], 500 ms by
// default), read-only or out of memory, the guard returns an error wrapping
// [session.ErrUnavailable] and the Manager fails the return: no hook runs, the user
// gets an error page (5xx) and starts again. The guard never fails open: a
// replay guard that says yes whenever it cannot check stops protecting
// exactly when its store is under pressure, which an attacker holding a
// copied return URL can wait for or cause,
// and an outage would silently turn strict one-time use into "usually
// once". An outage of the shared store is visible (errors, the
// handoff.failed log event) and short; a silent replay is neither. An app
// that prefers availability can wrap the guard in its own
// [session.ReplayGuard] that ignores [session.ErrUnavailable], and own that choice.
//
// Each call gives up after its timeout even when go-redis would wait longer
// (without Options.ContextTimeoutEnabled it waits for its ReadTimeout, 5 s
// by default, on a stalled server). Enable ContextTimeoutEnabled so that the
// abandoned command stops then too.
//
// # Key rotation
//
// Cookie keys ([session.KeyPair]) come from configuration, newest first, and
// are the same list on every instance; package session says how to rotate
// them in three deployments. The replay guard needs no rotation: its keys
// are hashes of nonces, and hold no secret.
//
// This package is a module of its own, so that an app without Redis does
// not require go-redis: go get github.com/handoffkit/handoffkit/session/redisflow.
package redisflow
