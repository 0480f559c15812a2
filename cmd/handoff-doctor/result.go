package main

import (
	"fmt"
	"io"
	"strings"
)

// result is one check's outcome: a line of the report.
type result struct {
	// Name identifies the check, such as "credentials" or "reach.api.tls".
	Name string `json:"name"`
	// OK is true when the check passed; a skipped check is not OK.
	OK bool `json:"ok"`
	// Skipped is true when the check did not run: not configured, or a
	// check it depends on failed.
	Skipped bool `json:"skipped,omitempty"`
	// Required checks decide the exit code.
	Required bool `json:"required"`
	// Detail says what was checked and found.
	Detail string `json:"detail"`
	// Fix says what to do about a failure.
	Fix string `json:"fix,omitempty"`
	// Facts are the check's findings, for machines (strings and numbers).
	Facts map[string]any `json:"facts,omitempty"`
}

func pass(name, detail string) result {
	return result{Name: name, OK: true, Required: true, Detail: detail}
}

func fail(name, detail, fix string) result {
	return result{Name: name, Required: true, Detail: detail, Fix: fix}
}

func skip(name, why string) result {
	return result{Name: name, Skipped: true, Detail: "skipped: " + why}
}

func (r result) with(facts map[string]any) result {
	r.Facts = facts
	return r
}

// print writes the check's line: ✓ or ✗ (- when skipped), the name, what
// was checked, and the fix on the next line.
func (r result) print(w io.Writer) {
	mark := "✗"
	switch {
	case r.Skipped:
		mark = "-"
	case r.OK:
		mark = "✓"
	}
	fmt.Fprintf(w, "%s %-27s %s\n", mark, r.Name, r.Detail)
	if r.Fix != "" && !r.OK {
		fmt.Fprintf(w, "  fix: %s\n", r.Fix)
	}
}

// redact replaces every secret in the result's text with [REDACTED]: the
// checks never put one there, and this makes sure of it.
func (r *result) redact(secrets []string) {
	clean := func(s string) string {
		for _, x := range secrets {
			s = strings.ReplaceAll(s, x, "[REDACTED]")
		}
		return s
	}
	r.Detail, r.Fix = clean(r.Detail), clean(r.Fix)
	for k, v := range r.Facts {
		if s, ok := v.(string); ok {
			r.Facts[k] = clean(s)
		}
	}
}
