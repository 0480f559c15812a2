package redisflow_test

import (
	"fmt"
	"net/http"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/handlers"
	"github.com/handoffkit/handoffkit/session"
	"github.com/handoffkit/handoffkit/session/redisflow"
)

// keysFromConfig stands for the cookie keys every instance loads from its
// configuration, newest first. Never generate them at start-up.
func keysFromConfig() []session.KeyPair {
	keys, err := session.ParseKeys("5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a:a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5")
	if err != nil {
		panic(err)
	}
	return keys
}

func user(r *http.Request) (string, bool)                 { return "", false } // your auth's
func token(r *http.Request) (bluenexus.AccessToken, bool) { return "", false } // your auth's

// kitOn builds the app's kit on flows, a Manager on the shared Redis.
func kitOn(flows *session.Manager) (*handlers.Kit, error) {
	return handlers.New(handlers.Config{
		WhiteLabelURL: "https://connect.example.com/",
		ReturnURL:     "https://app.example.com/connections/return",
		User:          user,
		AccessToken:   token,
	}, handlers.WithFlows(flows))
}

// Every instance of the app shares one Redis replay guard, so that a state
// used on one instance is refused on every other. (miniredis
// stands in for the Redis server here, so that the example runs anywhere.)
func ExampleNewReplayGuard() {
	srv := miniredis.NewMiniRedis()
	if err := srv.Start(); err != nil {
		panic(err)
	}
	defer srv.Close()

	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	defer rdb.Close()
	guard, err := redisflow.NewReplayGuard(rdb)
	if err != nil {
		panic(err)
	}
	flows, err := session.New(keysFromConfig(), session.WithReplayGuard(guard))
	if err != nil {
		panic(err)
	}
	_, err = kitOn(flows)
	fmt.Println("kit on the shared guard:", err)
	// Output:
	// kit on the shared guard: <nil>
}

// Behind Sentinel, every instance finds the master through the Sentinels,
// and WithReplicas(1) makes each write wait for the replica, so that a
// failover loses no used state, lease or token pair. (A Redis Cluster
// works the same way, with redis.NewClusterClient.)
func ExampleWithReplicas() {
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:            "handoffkit",
		SentinelAddrs:         []string{"sentinel-1:26379", "sentinel-2:26379", "sentinel-3:26379"},
		ContextTimeoutEnabled: true,
	})
	defer rdb.Close()
	replicated := redisflow.WithReplicas(1)
	guard, err := redisflow.NewReplayGuard(rdb, replicated)
	if err != nil {
		panic(err)
	}
	tokens, err := redisflow.NewTokenStore(rdb, replicated)
	if err != nil {
		panic(err)
	}
	flows, err := session.New(keysFromConfig(), session.WithReplayGuard(guard))
	if err != nil {
		panic(err)
	}
	_ = tokens // for bluenexus.NewTokenSource(client, tokens)
	_, err = kitOn(flows)
	fmt.Println("kit behind Sentinel:", err)
	// Output:
	// kit behind Sentinel: <nil>
}
