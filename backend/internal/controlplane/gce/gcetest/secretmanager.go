package gcetest

import (
	"context"
	"fmt"
	"hash/crc32"
	"net"
	"regexp"
	"strconv"
	"sync"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// SecretManager is a fake Secret Manager gRPC server on a loopback listener.
// It implements AccessSecretVersion with the real API's names, version
// resolution ("latest" = the newest enabled version), CRC32C checksums and
// status codes (NotFound, FailedPrecondition for a disabled version).
//
// Connect with:
//
//	secretmanager.NewClient(ctx, option.WithEndpoint(sm.Addr),
//		option.WithoutAuthentication(),
//		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
type SecretManager struct {
	secretmanagerpb.UnimplementedSecretManagerServiceServer

	// Addr is host:port of the listener.
	Addr string

	srv *grpc.Server
	lis net.Listener

	mu       sync.Mutex
	secrets  map[string][]*secretVersion // "projects/P/secrets/N" -> versions (1-based)
	faults   map[string]codes.Code       // secret name (short) -> code for every access
	accessed []string                    // requested version names, in order
}

type secretVersion struct {
	data     []byte
	disabled bool
}

// NewSecretManager starts the fake; cleanup (t.Cleanup) stops it.
func NewSecretManager(cleanup func(func())) (*SecretManager, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s := &SecretManager{
		Addr:    lis.Addr().String(),
		srv:     grpc.NewServer(),
		lis:     lis,
		secrets: map[string][]*secretVersion{},
		faults:  map[string]codes.Code{},
	}
	secretmanagerpb.RegisterSecretManagerServiceServer(s.srv, s)
	go func() { _ = s.srv.Serve(lis) }()
	if cleanup != nil {
		cleanup(s.Close)
	}
	return s, nil
}

// Close stops the server.
func (s *SecretManager) Close() { s.srv.Stop() }

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

// Fail makes every access to secret answer with code (codes.OK clears it).
func (s *SecretManager) Fail(secret string, code codes.Code) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code == codes.OK {
		delete(s.faults, secret)
		return
	}
	s.faults[secret] = code
}

// Accessed returns the version names requested so far, in order.
func (s *SecretManager) Accessed() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.accessed...)
}

var versionNameRE = regexp.MustCompile(`^(projects/[^/]+/secrets/([^/]+))/versions/([^/]+)$`)

// AccessSecretVersion implements the RPC.
func (s *SecretManager) AccessSecretVersion(_ context.Context, req *secretmanagerpb.AccessSecretVersionRequest) (*secretmanagerpb.AccessSecretVersionResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accessed = append(s.accessed, req.GetName())
	m := versionNameRE.FindStringSubmatch(req.GetName())
	if m == nil {
		return nil, status.Errorf(codes.InvalidArgument, "Invalid resource field value in the request.")
	}
	secretName, short, ver := m[1], m[2], m[3]
	if code, ok := s.faults[short]; ok {
		return nil, status.Errorf(code, "Permission 'secretmanager.versions.access' denied for resource '%s' (or it may not exist).", req.GetName())
	}
	vs := s.secrets[secretName]
	if len(vs) == 0 {
		return nil, status.Errorf(codes.NotFound, "Secret [%s] not found or has no versions.", secretName)
	}
	n := 0
	if ver == "latest" {
		for i := len(vs); i >= 1; i-- {
			if !vs[i-1].disabled {
				n = i
				break
			}
		}
		if n == 0 {
			return nil, status.Errorf(codes.FailedPrecondition, "Secret Version [%s/versions/%d] is in DISABLED state.", secretName, len(vs))
		}
	} else {
		v, err := strconv.Atoi(ver)
		if err != nil || v < 1 {
			return nil, status.Errorf(codes.InvalidArgument, "Invalid resource field value in the request.")
		}
		if v > len(vs) {
			return nil, status.Errorf(codes.NotFound, "Secret Version [%s/versions/%d] not found.", secretName, v)
		}
		if vs[v-1].disabled {
			return nil, status.Errorf(codes.FailedPrecondition, "Secret Version [%s/versions/%d] is in DISABLED state.", secretName, v)
		}
		n = v
	}
	data := vs[n-1].data
	return &secretmanagerpb.AccessSecretVersionResponse{
		Name: fmt.Sprintf("%s/versions/%d", secretName, n),
		Payload: &secretmanagerpb.SecretPayload{
			Data:       append([]byte(nil), data...),
			DataCrc32C: proto.Int64(int64(crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))),
		},
	}, nil
}
