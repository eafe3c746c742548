package gcetest

import (
	"fmt"
	"regexp"
	"strings"
)

// resource is what list filters look at (Instance and Snapshot both have it).
type resource interface {
	filterFields() (name, status string, labels map[string]string)
}

func (in *Instance) filterFields() (string, string, map[string]string) {
	return in.Name, in.Status, in.Labels
}

func (s *Snapshot) filterFields() (string, string, map[string]string) {
	return s.Name, s.Status, s.Labels
}

var clauseRE = regexp.MustCompile(`^\(?\s*([A-Za-z][A-Za-z0-9_.\-]*)\s*(!=|=|\beq\b|\bne\b)\s*("[^"]*"|'[^']*'|[^\s()]+)\s*\)?`)

// parseFilter understands the subset of the Compute list filter syntax that
// ClaraTeach uses: clauses "FIELD = VALUE", "FIELD != VALUE" (exact match,
// "*" wildcards allowed as in the real API) and "FIELD eq REGEX",
// "FIELD ne REGEX" (RE2, whole value), joined by spaces or AND, each
// optionally in parentheses; FIELD is name, status or labels.KEY. Anything
// else is rejected with a 400, so a client relying on more fails loudly.
func parseFilter(f string) (func(resource) bool, error) {
	f = strings.TrimSpace(f)
	var preds []func(resource) bool
	for f != "" {
		if strings.HasPrefix(f, "AND ") {
			f = strings.TrimSpace(f[4:])
			continue
		}
		m := clauseRE.FindStringSubmatch(f)
		if m == nil {
			return nil, badRequest("invalid", "Invalid value for field 'filter': '%s'. Invalid list filter expression.", f)
		}
		f = strings.TrimSpace(f[len(m[0]):])
		field, op, val := m[1], m[2], strings.Trim(m[3], `"'`)
		get, err := fieldGetter(field)
		if err != nil {
			return nil, err
		}
		var match func(string) bool
		switch op {
		case "=", "!=":
			re, err := regexp.Compile("^" + strings.ReplaceAll(regexp.QuoteMeta(val), `\*`, ".*") + "$")
			if err != nil {
				return nil, badRequest("invalid", "Invalid filter value %q", val)
			}
			match = re.MatchString
		default:
			re, err := regexp.Compile("^(?:" + val + ")$")
			if err != nil {
				return nil, badRequest("invalid", "Invalid regular expression %q in filter", val)
			}
			match = re.MatchString
		}
		negate := op == "!=" || op == "ne"
		preds = append(preds, func(r resource) bool { return match(get(r)) != negate })
	}
	return func(r resource) bool {
		for _, p := range preds {
			if !p(r) {
				return false
			}
		}
		return true
	}, nil
}

func fieldGetter(field string) (func(resource) string, error) {
	switch {
	case field == "name":
		return func(r resource) string { name, _, _ := r.filterFields(); return name }, nil
	case field == "status":
		return func(r resource) string { _, status, _ := r.filterFields(); return status }, nil
	case strings.HasPrefix(field, "labels."):
		k := strings.TrimPrefix(field, "labels.")
		return func(r resource) string { _, _, labels := r.filterFields(); return labels[k] }, nil
	}
	return nil, badRequest("invalid", "Invalid list filter expression: unsupported field %s", fmt.Sprintf("%q", field))
}
