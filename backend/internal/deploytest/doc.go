// Package deploytest holds the tests of ClaraTeach's packaging and operations
// files, which live outside the Go tree: the Dockerfiles, the nginx template,
// the scripts in scripts/, the systemd units, the Prometheus rules and the
// Grafana dashboard in deploy/.
//
// Tests that need a tool (nginx, shellcheck, promtool, systemd-analyze,
// debootstrap, iptables) or root skip with a one-line reason when it is
// missing. promtool is looked up in PATH, then in $PROMTOOL.
package deploytest
