"""Recovery phrases the tests share: valid BIP39 phrases from the public test vectors."""

# The BIP39 English vector for entropy 0x7f…7f: a valid phrase nobody uses for real funds.
PHRASE = "legal winner thank year wave sausage worth useful legal winner thank yellow"
WORDS = tuple(PHRASE.split())
