// Package secretstest holds a wire-level fake of Secret Manager's REST API,
// so that package secrets' production client is the code under test. It
// imports no GCP client (unlike gce/gcetest's Compute fake), so the tests
// of config and secrets link none. A regular (non-test) package, so any
// package's tests can use it.
package secretstest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// SecretManager is a fake Secret Manager REST server (v1) on a loopback
// listener. It implements versions:access with the real API's names,
// version resolution ("latest" = the newest enabled version), CRC32C
// checksums and error answers (404 NOT_FOUND, 400 FAILED_PRECONDITION for
// a disabled version, {"error": {"code", "message", "status"}}).
//
// Point the client at it with secrets.Config{Endpoint: sm.Addr}
// (GCP_SECRETMANAGER_ENDPOINT).
type SecretManager struct {
	// Addr is host:port of the listener (plain HTTP).
	Addr string

	srv *httptest.Server

	mu       sync.Mutex
	secrets  map[string][]*secretVersion // "projects/P/secrets/N" -> versions (1-based)
	faults   map[string]string           // secret name (short) -> status for every access
	accessed []string                    // requested version names, in order
}

type secretVersion struct {
	data     []byte
	disabled bool
}

// NewSecretManager starts the fake; cleanup (t.Cleanup) stops it.
func NewSecretManager(cleanup func(func())) (*SecretManager, error) {
	s := &SecretManager{secrets: map[string][]*secretVersion{}, faults: map[string]string{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.Addr = strings.TrimPrefix(s.srv.URL, "http://")
	if cleanup != nil {
		cleanup(s.Close)
	}
	return s, nil
}

// Close stops the server.
func (s *SecretManager) Close() { s.srv.Close() }

// AddVersion adds a new (enabled) version of a secret and returns its number.
func (s *SecretManager) AddVersion(project, secret, value string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := "projects/" + project + "/secrets/" + secret
	s.secrets[k] = append(s.secrets[k], &secretVersion{data: []byte(value)})
	return len(s.secrets[k])
}

// DisableVersion disables version n of a secret.
func (s *SecretManager) DisableVersion(project, secret string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	vs := s.secrets["projects/"+project+"/secrets/"+secret]
	if n >= 1 && n <= len(vs) {
		vs[n-1].disabled = true
	}
}

// Fail makes every access to secret answer with the canonical error status
// ("PERMISSION_DENIED", "UNAVAILABLE", ...); "" clears it.
func (s *SecretManager) Fail(secret, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if status == "" {
		delete(s.faults, secret)
		return
	}
	s.faults[secret] = status
}

// Accessed returns the version names requested so far, in order.
func (s *SecretManager) Accessed() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.accessed...)
}

// httpStatus maps canonical error statuses to the HTTP codes the REST API
// answers with.
var httpStatus = map[string]int{
	"INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403,
	"NOT_FOUND": 404, "RESOURCE_EXHAUSTED": 429, "INTERNAL": 500, "UNAVAILABLE": 503,
}

func smError(w http.ResponseWriter, status, msg string) {
	code := httpStatus[status]
	if code == 0 {
		code = 500
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg, "status": status}})
}

var versionNameRE = regexp.MustCompile(`^(projects/[^/]+/secrets/([^/]+))/versions/([^/]+)$`)

func (s *SecretManager) serve(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/v1/"), ":access")
	if r.Method != http.MethodGet || !ok || !strings.HasPrefix(r.URL.Path, "/v1/") {
		smError(w, "NOT_FOUND", "no such method: "+r.Method+" "+r.URL.Path)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accessed = append(s.accessed, name)
	m := versionNameRE.FindStringSubmatch(name)
	if m == nil {
		smError(w, "INVALID_ARGUMENT", "Invalid resource field value in the request.")
		return
	}
	secretName, short, ver := m[1], m[2], m[3]
	if st, ok := s.faults[short]; ok {
		smError(w, st, fmt.Sprintf("Permission 'secretmanager.versions.access' denied for resource '%s' (or it may not exist).", name))
		return
	}
	n, st, msg := s.resolve(secretName, ver)
	if st != "" {
		smError(w, st, msg)
		return
	}
	data := s.secrets[secretName][n-1].data
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"name": fmt.Sprintf("%s/versions/%d", secretName, n),
		"payload": map[string]string{
			"data":       base64.StdEncoding.EncodeToString(data),
			"dataCrc32c": strconv.FormatInt(int64(crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))), 10),
		},
	})
}

// resolve returns the version number ver names, or an error status and
// message.
func (s *SecretManager) resolve(secretName, ver string) (int, string, string) {
	vs := s.secrets[secretName]
	if len(vs) == 0 {
		return 0, "NOT_FOUND", fmt.Sprintf("Secret [%s] not found or has no versions.", secretName)
	}
	if ver == "latest" {
		for i := len(vs); i >= 1; i-- {
			if !vs[i-1].disabled {
				return i, "", ""
			}
		}
		return 0, "FAILED_PRECONDITION", fmt.Sprintf("Secret Version [%s/versions/%d] is in DISABLED state.", secretName, len(vs))
	}
	v, err := strconv.Atoi(ver)
	if err != nil || v < 1 {
		return 0, "INVALID_ARGUMENT", "Invalid resource field value in the request."
	}
	if v > len(vs) {
		return 0, "NOT_FOUND", fmt.Sprintf("Secret Version [%s/versions/%d] not found.", secretName, v)
	}
	if vs[v-1].disabled {
		return 0, "FAILED_PRECONDITION", fmt.Sprintf("Secret Version [%s/versions/%d] is in DISABLED state.", secretName, v)
	}
	return v, "", ""
}
