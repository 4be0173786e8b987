"""Destinations: the folders an admin lets tickets go to (a name, a root, default tags)."""
