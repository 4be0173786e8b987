"""Storage: SQLite connections and transactions, the schema's migrations, the in-use lock."""
