// Package buildinfo holds what the build stamps into every ClaraTeach
// binary: the one version variable, set by the Makefile and the Dockerfile
// with
//
//	go build -ldflags "-X github.com/clarateach/backend/internal/buildinfo.Version=1.2.3" ./cmd/...
//
// The server prints it and reports it in GET /health, the agent in its GET
// /health, and `clarateach version` prints it.
package release

// Version is the build's version ("dev" when not stamped).
var Version = "dev"
