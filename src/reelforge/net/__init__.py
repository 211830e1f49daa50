"""The network edge: which addresses the server may reach for a user, and a pinned HTTP client.

Server-side request forgery is the main threat: a request body names a URL (an input, a webhook)
and the server connects to it. So http(s) hosts are resolved, *every* resolved address must be
globally routable, and the connection is pinned to the address that was checked (DNS cannot
rebind between check and connect). Redirects are followed by hand so each hop is checked the same
way. Input fetching, webhook delivery and moderation all go through here.
"""
