"""Contributed collections: community products that are not ISLA pipeline output, delivered
with their documentation and software, format-checked, reviewed by operators and published
(:mod:`.routes` the HTTP API, :mod:`.service` the policy, :mod:`.store` the SQL,
:mod:`.formats` the format checks)."""
