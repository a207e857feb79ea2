"""A small service used by the demo and the tests: arithmetic over a few actions."""

from __future__ import annotations

from pydantic import BaseModel

from servicewire import Action, ActionError, EnrichedActionRequest, Error, Server


class Operands(BaseModel):
    a: float
    b: float


class Result(BaseModel):
    result: float


class Add(Action):
    """Adds two numbers."""

    request_schema = Operands
    response_schema = Result

    def run(self, request: EnrichedActionRequest) -> Result:
        return Result(result=request.body["a"] + request.body["b"])


class Divide(Action):
    """Divides `a` by `b`."""

    request_schema = Operands
    response_schema = Result

    def validate(self, request: EnrichedActionRequest) -> None:
        if request.body["b"] == 0:
            raise ActionError(
                [Error(code="DIVISION_BY_ZERO", message="b must not be 0", field="b")]
            )

    def run(self, request: EnrichedActionRequest) -> Result:
        return Result(result=request.body["a"] / request.body["b"])


class CalculatorServer(Server):
    """Arithmetic as a service."""

    service_name = "calculator"
    action_class_map = {"add": Add, "divide": Divide}


if __name__ == "__main__":
    # Serve until stopped (Ctrl-C), on the default transport: SQLite, on this machine.
    from examples.serving import serve

    serve(CalculatorServer)
