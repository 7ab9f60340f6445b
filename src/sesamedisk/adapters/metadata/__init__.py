"""The SQL metadata adapter: users, tokens and libraries on SQLite or PostgreSQL."""
