"""Errors the domain raises. The tool layer turns them into `ToolError`s the model can say back."""


class SupportError(Exception):
    """A refusal or failed precondition, phrased as a sentence the agent can speak.

    The message must never contain secrets or another customer's data.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
