package deploytest

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// contractMetrics are the metric names the code promises (docs/ARCHITECTURE.md
// and the issues): the alert rules and the dashboard may use only these.
// Histograms are listed by base name; their _bucket/_sum/_count series count
// as the base.
var contractMetrics = map[string]bool{
	// agent
	"clarateach_agent_up":                  false,
	"clarateach_agent_seats":               false,
	"clarateach_agent_terminal_sessions":   false,
	"clarateach_agent_relayed_bytes_total": false,
	"clarateach_agent_seat_start_seconds":  true, // histogram
	"clarateach_agent_seat_failures_total": false,
	// server
	"clarateach_http_requests_total":           false,
	"clarateach_http_request_duration_seconds": true,
	"clarateach_workshops":                     false,
	"clarateach_workshop_provision_seconds":    true,
	"clarateach_reconcile_errors_total":        false,
	"clarateach_orphaned_vms":                  false,
	"clarateach_workshop_agent_up":             false,
}

var metricRE = regexp.MustCompile(`\bclarateach_[a-z0-9_]+`)

// baseMetric maps a series name to its metric (histogram suffixes removed).
func baseMetric(name string) string {
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if b, ok := strings.CutSuffix(name, suf); ok && contractMetrics[b] {
			return b
		}
	}
	return name
}

type alertRule struct {
	name, expr, forDur, severity, summary string
}

// parseAlertRules reads the rules of a Prometheus rule file. It understands
// the subset of YAML the file is written in: "- alert:" items whose keys are
// plain scalars or "|" / ">-" blocks, and labels/annotations maps.
func parseAlertRules(t *testing.T, text string) []alertRule {
	t.Helper()
	var rules []alertRule
	var cur *alertRule
	lines := strings.Split(text, "\n")
	indent := func(s string) int { return len(s) - len(strings.TrimLeft(s, " ")) }
	// block returns the value of key at line i: inline, or a block scalar.
	block := func(i int, v string) string {
		v = strings.TrimSpace(v)
		if v != "|" && v != ">-" && v != ">" && v != "|-" {
			return strings.Trim(v, `"`)
		}
		base := indent(lines[i])
		var parts []string
		for j := i + 1; j < len(lines); j++ {
			if strings.TrimSpace(lines[j]) != "" && indent(lines[j]) <= base {
				break
			}
			parts = append(parts, strings.TrimSpace(lines[j]))
		}
		return strings.TrimSpace(strings.Join(parts, " "))
	}
	for i, l := range lines {
		s := strings.TrimSpace(l)
		if strings.HasPrefix(s, "#") {
			continue
		}
		if v, ok := strings.CutPrefix(s, "- alert:"); ok {
			rules = append(rules, alertRule{name: strings.TrimSpace(v)})
			cur = &rules[len(rules)-1]
			continue
		}
		if cur == nil {
			continue
		}
		switch {
		case strings.HasPrefix(s, "expr:"):
			cur.expr = block(i, strings.TrimPrefix(s, "expr:"))
		case strings.HasPrefix(s, "for:"):
			cur.forDur = strings.TrimSpace(strings.TrimPrefix(s, "for:"))
		case strings.HasPrefix(s, "severity:"):
			cur.severity = strings.TrimSpace(strings.TrimPrefix(s, "severity:"))
		case strings.HasPrefix(s, "summary:"):
			cur.summary = block(i, strings.TrimPrefix(s, "summary:"))
		}
	}
	return rules
}

func alertRules(t *testing.T) []alertRule {
	return parseAlertRules(t, readRepoFile(t, "deploy/prometheus/alerts.yml"))
}

// dashboardExprs returns every "expr" in the dashboard's panels.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	var d any
	if err := json.Unmarshal([]byte(readRepoFile(t, "deploy/grafana/clarateach.json")), &d); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && k == "expr" {
					out = append(out, s)
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(d)
	return out
}

// usedMetrics is every clarateach_* metric the rules and dashboard query.
func usedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	used := map[string][]string{}
	for _, r := range alertRules(t) {
		for _, m := range metricRE.FindAllString(r.expr, -1) {
			used[baseMetric(m)] = append(used[baseMetric(m)], "alert "+r.name)
		}
	}
	for _, e := range dashboardExprs(t) {
		for _, m := range metricRE.FindAllString(e, -1) {
			used[baseMetric(m)] = append(used[baseMetric(m)], "dashboard")
		}
	}
	return used
}

func TestAlertRulesShape(t *testing.T) {
	t.Parallel()
	rules := alertRules(t)
	want := []string{"ClarateachAgentDown", "ClarateachSeatsFailing", "ClarateachWorkshopStuckProvisioning", "ClarateachOrphanedVMs"}
	names := map[string]alertRule{}
	for _, r := range rules {
		if _, dup := names[r.name]; dup {
			t.Errorf("alert %s defined twice", r.name)
		}
		names[r.name] = r
		if r.expr == "" || r.summary == "" {
			t.Errorf("alert %s: needs expr and annotations.summary", r.name)
		}
		if r.severity != "warning" && r.severity != "critical" {
			t.Errorf("alert %s: severity %q, want warning or critical", r.name, r.severity)
		}
		if r.forDur != "" {
			if _, err := time.ParseDuration(r.forDur); err != nil {
				t.Errorf("alert %s: for %q: %v", r.name, r.forDur, err)
			}
		}
	}
	for _, n := range want {
		if _, ok := names[n]; !ok {
			t.Errorf("missing alert %s", n)
		}
	}
	if r := names["ClarateachWorkshopStuckProvisioning"]; r.forDur != "10m" || !strings.Contains(r.expr, `status="provisioning"`) {
		t.Errorf("stuck-provisioning alert should be provisioning for 10m, got expr %q for %q", r.expr, r.forDur)
	}
}

func TestDashboardShape(t *testing.T) {
	t.Parallel()
	var d struct {
		UID        string `json:"uid"`
		Title      string `json:"title"`
		Templating struct {
			List []struct {
				Name, Type string
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			ID      int                      `json:"id"`
			Type    string                   `json:"type"`
			Title   string                   `json:"title"`
			GridPos struct{ H, W, X, Y int } `json:"gridPos"`
			Targets []struct {
				Expr       string `json:"expr"`
				RefID      string `json:"refId"`
				Datasource struct {
					UID string `json:"uid"`
				} `json:"datasource"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal([]byte(readRepoFile(t, "deploy/grafana/clarateach.json")), &d); err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || d.Title == "" {
		t.Error("dashboard needs a uid and a title")
	}
	if len(d.Templating.List) == 0 || d.Templating.List[0].Type != "datasource" {
		t.Error("dashboard should have a datasource variable")
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.X+p.GridPos.W > 24 || p.GridPos.W <= 0 {
			t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			if q.Expr == "" || q.RefID == "" || q.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: target %+v needs expr, refId and the ${datasource} variable", p.Title, q)
			}
		}
	}
}

// TestMonitoringMetricsInContract: the rules and the dashboard use only the
// metric names the code promises, and every promised metric is shown or
// alerted on somewhere.
func TestMonitoringMetricsInContract(t *testing.T) {
	t.Parallel()
	used := usedMetrics(t)
	for m, where := range used {
		if _, ok := contractMetrics[m]; !ok {
			t.Errorf("%s (used by %v) is not a ClaraTeach metric", m, where)
		}
	}
	for m := range contractMetrics {
		if _, ok := used[m]; !ok {
			t.Errorf("%s is neither alerted on nor on the dashboard", m)
		}
	}
}

// TestMonitoringMetricsExist: every metric the rules and dashboard use is
// registered by the Go code, i.e. appears as a string literal in a non-test
// Go file under backend/.
func TestMonitoringMetricsExist(t *testing.T) {
	t.Parallel()
	backend := repoPath(t, "backend")
	self := repoPath(t, "backend/internal/deploytest")
	var src strings.Builder
	err := filepath.WalkDir(backend, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p == self || d.Name() == "node_modules" || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			src.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	all := src.String()
	var missing []string
	for m := range usedMetrics(t) {
		if !strings.Contains(all, `"`+m+`"`) {
			missing = append(missing, m)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("metrics used by deploy/prometheus/alerts.yml or deploy/grafana/clarateach.json but not registered (no string literal in backend/**/*.go): %s",
			strings.Join(missing, ", "))
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// promtool returns promtool's path or skips.
func promtool(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PROMTOOL"); p != "" {
		return p
	}
	// Unpacked by scripts/test/promtool-test.sh.
	if p := repoPath(t, ".cache/promtool/usr/bin/promtool"); fileExists(p) {
		return p
	}
	return needTool(t, "promtool")
}

func TestAlertRulesPromtool(t *testing.T) {
	t.Parallel()
	pt := promtool(t)
	dir := repoPath(t, "deploy/prometheus")
	if r := runCmd(t, time.Minute, nil, dir, pt, "check", "rules", "alerts.yml"); r.code != 0 {
		t.Fatalf("promtool check rules: %s%s", r.stdout, r.stderr)
	}
	if r := runCmd(t, time.Minute, nil, dir, pt, "test", "rules", "alerts_test.yml"); r.code != 0 {
		t.Fatalf("promtool test rules: %s%s", r.stdout, r.stderr)
	}
}

// The control plane's /metrics needs METRICS_TOKEN: the shipped scrape
// configuration must send it, and the docs must say where it comes from.
func TestScrapeConfigSendsTheMetricsToken(t *testing.T) {
	t.Parallel()
	cfg := readRepoFile(t, "deploy/prometheus/prometheus.yml")
	i := strings.Index(cfg, "job_name: clarateach-server")
	if i < 0 {
		t.Fatal("deploy/prometheus/prometheus.yml has no clarateach-server job")
	}
	job := cfg[i:]
	for _, want := range []string{"authorization:", "type: Bearer", "credentials_file: /etc/prometheus/clarateach-metrics-token"} {
		if !strings.Contains(job, want) {
			t.Errorf("clarateach-server scrape job lacks %q", want)
		}
	}
	for _, f := range []string{"docs/OPERATIONS.md", "backend/.env.example", "deploy/prometheus/prometheus.yml"} {
		if !strings.Contains(readRepoFile(t, f), "METRICS_TOKEN") {
			t.Errorf("%s does not mention METRICS_TOKEN", f)
		}
	}
}
