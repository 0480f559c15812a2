package bluenexus

import (
	"slices"
	"testing"
)

func ids(cs []Connection) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID+":"+string(c.Status))
	}
	return out
}

func TestDiff(t *testing.T) {
	g := Connection{ID: "c1", ProviderID: "google", Status: StatusActive}
	n := Connection{ID: "c2", ProviderID: "notion", Status: StatusActive}
	s := Connection{ID: "c3", ProviderID: "slack", Status: StatusActive}
	nExpired := n
	nExpired.Status = StatusExpired
	g2 := Connection{ID: "c4", ProviderID: "google", Status: StatusActive} // a second google account
	for _, tc := range []struct {
		name                    string
		before, after           []Connection
		added, removed, changed []string
	}{
		{"nothing", nil, nil, nil, nil, nil},
		{"same", []Connection{g, n}, []Connection{n, g}, nil, nil, nil},
		{"added", []Connection{g}, []Connection{g, n, g2}, []string{"c2:active", "c4:active"}, nil, nil},
		{"removed", []Connection{g, n, s}, []Connection{n}, nil, []string{"c1:active", "c3:active"}, nil},
		{"status changed", []Connection{g, n}, []Connection{g, nExpired}, nil, nil, []string{"c2:expired"}},
		{"all at once", []Connection{g, n}, []Connection{nExpired, s}, []string{"c3:active"}, []string{"c1:active"}, []string{"c2:expired"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			added, removed, changed := Diff(tc.before, tc.after)
			if !slices.Equal(ids(added), tc.added) || !slices.Equal(ids(removed), tc.removed) || !slices.Equal(ids(changed), tc.changed) {
				t.Errorf("Diff = added %v, removed %v, changed %v; want %v, %v, %v",
					ids(added), ids(removed), ids(changed), tc.added, tc.removed, tc.changed)
			}
		})
	}
}
