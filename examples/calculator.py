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


# The service's settings: this module is also its settings module. Run it with
#     servicewire serve examples.calculator:CalculatorServer -s examples.calculator
# (or python -m examples.calculator -s examples.calculator) until SIGTERM or Ctrl-C. The
# transport is the default one, SQLite on this machine, waiting for work at most a second at a
# time, so that the service stops within a second of being asked to; warnings and errors are
# logged.
SOA_SERVER_SETTINGS = {
    "transport": {
        "path": "servicewire.transport.sql:SqlServerTransport",
        "kwargs": {"receive_timeout_in_seconds": 1},
    },
    "logging": {
        "version": 1,
        "handlers": {"console": {"class": "logging.StreamHandler"}},
        "root": {"handlers": ["console"], "level": "WARNING"},
    },
}

if __name__ == "__main__":
    CalculatorServer.main()
