// Package treeshape holds tests of the Go tree's shape rather than of its
// behaviour: no production function over 100 lines unless an allowlist entry
// says why, and docs/ARCHITECTURE.md's package map naming every package
// directory under backend/internal. It has no code of its own.
package treeshape
