package agent

// DefaultMetadataURL is the GCE metadata server's base URL (registry tokens
// here; the agent command reads the host's secrets from it too).
const DefaultMetadataURL = "http://metadata.google.internal/computeMetadata/v1"
