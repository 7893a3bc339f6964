"""The backup's wire format, shared by the client and the server (docs/PROTOCOL.md, normative).

Pure and sans-I/O: `constants` (limits, error codes), `addressing` (object keys, paths, ids),
`signing` (request signatures), `jsonbody` (strict JSON and base64 values), `messages` (one
encoder and one decoder per message), `export` (the NDJSON export stream), `envelope` (the
encrypted blob) and `payload` (what an envelope carries). The server imports nothing else of
Cairn's.
"""
