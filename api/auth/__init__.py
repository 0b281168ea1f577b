"""Who may call the API: API keys (``keys``) and the principals they authenticate as."""
