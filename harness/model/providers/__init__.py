"""Model providers: OpenAI, Anthropic and OpenAI-compatible servers, each on its official SDK."""
