package handlers

import "net/http"

// flash is the outcome cookie with value and maxAge. It is as secure as the
// flow cookies: Secure with the __Host- prefix unless the flows run on plain
// http for development.
func (k *Kit) flash(value string, maxAge int) *http.Cookie {
	c := &http.Cookie{Name: "handoffkit-outcome", Value: value, Path: "/", MaxAge: maxAge,
		Secure: k.cfg.flows.Secure(), HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if c.Secure {
		c.Name = "__Host-" + c.Name
	}
	return c
}

// TakeOutcome reads and clears the outcome of the return that led to this
// request, for a flash message on the `next` page. It reports false when
// there is none. Only "success", "bluenexus_error" and
// "hook_failed" are ever reported (the others render through the error
// handler); an unknown value is ignored.
func (k *Kit) TakeOutcome(w http.ResponseWriter, r *http.Request) (Outcome, bool) {
	c, err := r.Cookie(k.flash("", 0).Name)
	if err != nil {
		return "", false
	}
	http.SetCookie(w, k.flash("", -1))
	switch o := Outcome(c.Value); o {
	case OutcomeSuccess, OutcomeBlueNexusError, OutcomeHookFailed:
		return o, true
	}
	return "", false
}
