"""The one client every LLM call goes through: the synthesis generator and the evaluation judge.

backends (OpenAI-compatible, Anthropic), the SQLite reply cache, rate limits and budget, prices,
and `client.Client`, which puts them together with retries and re-asks. Nothing here knows about
specs, documents or verdicts; callers pass messages and a parser.
"""
