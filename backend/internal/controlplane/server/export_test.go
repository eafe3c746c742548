package server_test

import (
	"github.com/clarateach/backend/internal/controlplane/config"
	"github.com/clarateach/backend/internal/controlplane/server"
)

type config_ = config.Config

func serverHash(pw string) (string, error) { return server.HashPassword(pw) }
