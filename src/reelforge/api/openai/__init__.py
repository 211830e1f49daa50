"""The OpenAI Videos API surface (what the official `openai` SDKs call), beside the xAI one."""
