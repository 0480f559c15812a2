package bluenexus

import "slices"

// Diff compares two readings of a user's connections, matched by ID: the
// connections only in after (added), only in before (removed), and in both
// with another Status (changed, as after has them). Each list keeps the
// order of the reading it comes from. BlueNexus has no webhooks, so an app
// learns what the user did on the white-label page by reading all
// connections again after the return and diffing them against its own copy.
func Diff(before, after []Connection) (added, removed, changed []Connection) {
	old := make(map[string]ConnectionStatus, len(before))
	for _, c := range before {
		old[c.ID] = c.Status
	}
	seen := make(map[string]bool, len(after))
	for _, c := range after {
		seen[c.ID] = true
		switch status, ok := old[c.ID]; {
		case !ok:
			added = append(added, c)
		case status != c.Status:
			changed = append(changed, c)
		}
	}
	removed = slices.DeleteFunc(slices.Clone(before), func(c Connection) bool { return seen[c.ID] })
	if len(removed) == 0 {
		removed = nil
	}
	return added, removed, changed
}
