"""Content moderation, offline on the CPU: prompts (a trained text classifier plus the
operator's terms and patterns) and pictures (nudenet's detector) before rendering, and sampled
output frames before a video is stored. A blocked request still finishes `done`, with
`respect_moderation: false` and no URL, as the contract says.

The policy is the `[moderation]` table of the catalog (policy.py); `moderator.Moderator` is what
the renderer calls; `preflight.unavailable` is the start-up check. Importing this package loads
no model.
"""
