"""cairn devnet: an Esplora-compatible simulated regtest chain for tests, demos and QA."""
