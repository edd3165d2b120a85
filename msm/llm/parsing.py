"""The contract between a caller's reply parser and the client: raise ParseError to get a re-ask."""


class ParseError(ValueError):
    """The reply is unusable; str(error) says why, in words the model can act on (it is sent back)."""
