// Package endtoend holds tests that run the whole control plane as a user
// meets it: the real server, store, reconciler, local provisioner, agent,
// seat runtime and workspace daemon, driven over HTTP and WebSockets.
package endtoend
