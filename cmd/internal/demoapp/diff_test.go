package demoapp

import (
	"slices"
	"testing"

	"github.com/handoffkit/handoffkit/bluenexus"
)

func connIDs(cs []bluenexus.Connection) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID+":"+string(c.Status))
	}
	return out
}

func TestDiff(t *testing.T) {
	g := bluenexus.Connection{ID: "c1", ProviderID: "google", Status: bluenexus.StatusActive}
	n := bluenexus.Connection{ID: "c2", ProviderID: "notion", Status: bluenexus.StatusActive}
	s := bluenexus.Connection{ID: "c3", ProviderID: "slack", Status: bluenexus.StatusActive}
	nExpired := n
	nExpired.Status = bluenexus.StatusExpired
	g2 := bluenexus.Connection{ID: "c4", ProviderID: "google", Status: bluenexus.StatusActive} // a second google account
	for _, tc := range []struct {
		name                    string
		before, after           []bluenexus.Connection
		added, removed, changed []string
	}{
		{"nothing", nil, nil, nil, nil, nil},
		{"same", []bluenexus.Connection{g, n}, []bluenexus.Connection{n, g}, nil, nil, nil},
		{"added", []bluenexus.Connection{g}, []bluenexus.Connection{g, n, g2}, []string{"c2:active", "c4:active"}, nil, nil},
		{"removed", []bluenexus.Connection{g, n, s}, []bluenexus.Connection{n}, nil, []string{"c1:active", "c3:active"}, nil},
		{"status changed", []bluenexus.Connection{g, n}, []bluenexus.Connection{g, nExpired}, nil, nil, []string{"c2:expired"}},
		{"all at once", []bluenexus.Connection{g, n}, []bluenexus.Connection{nExpired, s}, []string{"c3:active"}, []string{"c1:active"}, []string{"c2:expired"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			added, removed, changed := diff(tc.before, tc.after)
			if !slices.Equal(connIDs(added), tc.added) || !slices.Equal(connIDs(removed), tc.removed) || !slices.Equal(connIDs(changed), tc.changed) {
				t.Errorf("Diff = added %v, removed %v, changed %v; want %v, %v, %v",
					connIDs(added), connIDs(removed), connIDs(changed), tc.added, tc.removed, tc.changed)
			}
		})
	}
}
