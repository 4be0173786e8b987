"""API keys and identity: who is asking, and the keys that say so."""
