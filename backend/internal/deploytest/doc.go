// Package deploytest holds the tests of ClaraTeach's packaging and operations
// files, which live outside the Go tree: the Dockerfiles, the nginx template,
// the scripts in scripts/, the systemd units, the Prometheus rules and the
// Grafana dashboard in deploy/.
//
// Tests that need a tool (nginx, shellcheck, promtool, systemd-analyze,
// debootstrap, iptables) or root skip with a one-line reason when it is
// missing. promtool is $PROMTOOL, else .cache/promtool/usr/bin/promtool (which
// scripts/test/promtool-test.sh unpacks), else promtool in PATH.
package deploytest
