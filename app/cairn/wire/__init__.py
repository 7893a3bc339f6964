"""The backup's wire format, shared by the client and the server (docs/PROTOCOL.md, normative).

Pure and sans-I/O: `protocol` (addressing, signing, JSON bodies), `envelope` (the encrypted
blob) and `payload` (what an envelope carries). The server imports nothing else of Cairn's.
"""
