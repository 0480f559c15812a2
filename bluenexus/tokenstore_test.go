package bluenexus_test

import (
	"testing"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/internal/tokentest/storetest"
)

// TestMemoryTokenStoreContract: the memory store keeps the TokenStore and
// TokenLocker contracts.
func TestMemoryTokenStoreContract(t *testing.T) {
	storetest.Contract(t, func(*testing.T) bluenexus.TokenStore { return bluenexus.NewMemoryTokenStore() })
}
