package bluenexus_test

import (
	"testing"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/internal/tokentest/storetest"
)

// TestMemoryTokenStoreContract: the memory store keeps the TokenStore
// contract.
func TestMemoryTokenStoreContract(t *testing.T) {
	storetest.Contract(t, func(*testing.T) bluenexus.TokenStore { return bluenexus.NewMemoryTokenStore() })
}

// TestWrappedStoreKeepsTheContract: a store wrapped to log or measure it
// keeps the whole contract, the lease included (SECURITY.md E9).
func TestWrappedStoreKeepsTheContract(t *testing.T) {
	storetest.Contract(t, func(*testing.T) bluenexus.TokenStore {
		return struct{ bluenexus.TokenStore }{bluenexus.NewMemoryTokenStore()}
	})
}
