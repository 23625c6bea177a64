"""Access: who the caller is (logins, tokens, federation) and what it may do in a registry."""
