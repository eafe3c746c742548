package deploytest

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/cli/agentcmd"
	"github.com/clarateach/backend/internal/controlplane/config"
)

func TestBackendDockerfile(t *testing.T) {
	t.Parallel()
	df := readRepoFile(t, "backend/Dockerfile")
	for _, want := range []string{
		"FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build",
		"ARG GO_VERSION=1.26",
		"CGO_ENABLED=0",
		"./cmd/clarateach",
		"FROM gcr.io/distroless/static-debian12:nonroot",
		"USER nonroot:nonroot",
		"EXPOSE 8080",
		`ENTRYPOINT ["/usr/local/bin/clarateach"]`,
		`CMD ["server"]`,
	} {
		if !strings.Contains(df, want) {
			t.Errorf("backend/Dockerfile lacks %q", want)
		}
	}
	// The build context is backend/: every COPY source must be inside it.
	for _, m := range regexp.MustCompile(`(?m)^COPY (?:--\S+ )*(\S+)`).FindAllStringSubmatch(df, -1) {
		if strings.HasPrefix(m[1], "..") || strings.HasPrefix(m[1], "/") && !strings.HasPrefix(m[0], "COPY --from") {
			t.Errorf("COPY %s reaches outside the backend/ build context", m[1])
		}
	}
	if _, err := os.Stat(repoPath(t, "backend/cmd/clarateach")); err != nil {
		t.Errorf("the Dockerfile builds ./cmd/clarateach, which does not exist: %v", err)
	}
}

func TestFrontendDockerfile(t *testing.T) {
	t.Parallel()
	df := readRepoFile(t, "frontend/Dockerfile")
	for _, want := range []string{
		"npm ci", "npm run build",
		"COPY nginx.conf /etc/nginx/templates/default.conf.template",
		"COPY security-headers.conf /etc/nginx/snippets/clarateach-security-headers.conf",
		"docker/10-clarateach-backend-url.envsh /docker-entrypoint.d/",
		"COPY --from=build /app/dist /usr/share/nginx/html",
		"EXPOSE 8080",
	} {
		if !strings.Contains(df, want) {
			t.Errorf("frontend/Dockerfile lacks %q", want)
		}
	}
	conf := readRepoFile(t, "frontend/nginx.conf")
	for _, want := range []string{"listen 8080", "proxy_pass ${BACKEND_URL};", "include snippets/clarateach-security-headers.conf;", "root /usr/share/nginx/html;"} {
		if !strings.Contains(conf, want) {
			t.Errorf("frontend/nginx.conf lacks %q", want)
		}
	}
}

// TestEnvExample: backend/.env.example documents every server variable and
// loads with the real config loader.
func TestEnvExample(t *testing.T) {
	t.Parallel()
	text := readRepoFile(t, "backend/.env.example")
	for _, v := range []string{"DATABASE_URL", "GCP_PROJECT", "GCP_ZONE", "GCP_REGISTRY", "FC_SNAPSHOT_NAME", "FC_AGENT_TOKEN",
		"WORKSPACE_TOKEN_SECRET", "JWT_SECRET", "PORT", "CORS_ORIGINS", "GCP_USE_SPOT", "ADMIN_EMAIL", "ADMIN_PASSWORD",
		"GCP_COMPUTE_ENDPOINT", "GCP_SECRETMANAGER_ENDPOINT", "DATA_DIR", "PROVISIONER", "PUBLIC_URL"} {
		if !regexp.MustCompile(`(?m)^#?` + v + `=`).MatchString(text) {
			t.Errorf(".env.example does not document %s", v)
		}
	}
	// Exactly the variables the binaries read, each documented once: the
	// control plane's and the agent's binders know every variable they
	// read. GCP_REGISTRY is read by scripts/deploy-cloud-run.sh only
	// (reserved for the server's workshop images).
	read := map[string]bool{"GCP_REGISTRY": true}
	for _, v := range append(config.Vars(), agentcmd.Vars()...) {
		read[v] = true
	}
	documented := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^#?([A-Z][A-Z0-9_]*)=`).FindAllStringSubmatch(text, -1) {
		documented[m[1]]++
	}
	for v := range read {
		if documented[v] == 0 {
			t.Errorf(".env.example does not document %s, which the binaries read", v)
		}
	}
	for v, n := range documented {
		if !read[v] {
			t.Errorf(".env.example documents %s, which no binary reads", v)
		}
		if n > 1 {
			t.Errorf(".env.example documents %s %d times", v, n)
		}
	}
	// No secret values.
	for _, v := range []string{"FC_AGENT_TOKEN", "WORKSPACE_TOKEN_SECRET", "JWT_SECRET", "AGENT_TOKEN", "INTERNAL_TOKEN", "METRICS_TOKEN", "WORKSPACE_KEY"} {
		if m := regexp.MustCompile(`(?m)^` + v + `=(.+)$`).FindStringSubmatch(text); m != nil {
			t.Errorf("%s has a value in .env.example: %q", v, m[1])
		}
	}
	dataDir := t.TempDir()
	cfg, err := config.Load(context.Background(), config.Options{
		EnvFile: repoPath(t, "backend/.env.example"),
		Getenv: func(k string) string {
			if k == "DATA_DIR" {
				return dataDir
			}
			return ""
		},
	})
	if err != nil {
		t.Fatalf("config.Load(.env.example): %v", err)
	}
	if !cfg.Local() || cfg.Port != 8080 {
		t.Errorf("the example should give local mode on 8080, got provisioner %q port %d", cfg.Provisioner, cfg.Port)
	}
}

func TestAgentUnit(t *testing.T) {
	t.Parallel()
	u := readRepoFile(t, "deploy/clarateach-agent.service")
	for _, want := range []string{"ExecStart=/usr/local/bin/agent", "Restart=on-failure", "KillMode=process",
		"StateDirectory=clarateach/agent", "AGENT_LISTEN=:9090", "AGENT_RUNTIME=firecracker", "WantedBy=multi-user.target"} {
		if !strings.Contains(u, want) {
			t.Errorf("clarateach-agent.service lacks %s", want)
		}
	}
	if regexp.MustCompile(`(?m)^Environment=.*(AGENT_TOKEN|FC_AGENT_TOKEN)=`).MatchString(u) {
		t.Error("the unit must not carry a token: the agent reads it from instance metadata")
	}
}

// TestSystemdVerify runs systemd-analyze verify on the units. Missing
// executables (/usr/local/bin/agent on a build machine) are the only
// complaint allowed.
func TestSystemdVerify(t *testing.T) {
	t.Parallel()
	sa := needTool(t, "systemd-analyze")
	r := runCmd(t, time.Minute, nil, repoPath(t, "deploy"), sa, "verify", "clarateach-agent.service", "clarateach-host.service")
	allowed := regexp.MustCompile(`Command /usr/local/\S+ is not executable: No such file or directory`)
	for _, l := range strings.Split(strings.TrimSpace(r.stdout+"\n"+r.stderr), "\n") {
		if l = strings.TrimSpace(l); l != "" && !allowed.MatchString(l) {
			t.Errorf("systemd-analyze verify: %s", l)
		}
	}
}
