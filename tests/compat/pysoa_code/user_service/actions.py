from conformity import fields
from pysoa.common.errors import Error
from pysoa.server.action import Action
from pysoa.server.action.switched import SwitchedAction
from pysoa.server.errors import ActionError

USER_VERSION_2_ENABLED = 5

USERS = {
    1: {"id": 1, "name": "Ada", "email": "ada@example.com", "team_id": 10},
    2: {"id": 2, "name": "Grace", "email": None, "team_id": 20},
}

USER_SCHEMA = fields.Dictionary(
    {
        "_type": fields.Constant("user"),
        "id": fields.Integer(gt=0),
        "name": fields.UnicodeString(),
        "email": fields.Nullable(fields.EmailAddress()),
        "team_id": fields.Integer(),
    },
    description="A user of the system.",
)


class GetUserActionV1(Action):
    """Return one user."""

    request_schema = fields.Dictionary(
        {"user_id": fields.Integer(gt=0, description="The user to return.")},
    )
    response_schema = fields.Dictionary({"user": USER_SCHEMA})

    def run(self, request):
        user = USERS.get(request.body["user_id"])
        if user is None:
            raise ActionError(
                errors=[Error(code="NOT_FOUND", message="No such user", field="user_id")]
            )
        return {"user": dict(user, _type="user")}


class GetUserActionV2(GetUserActionV1):
    """Return one user, with the first name only."""

    response_schema = fields.Dictionary(
        {"user": USER_SCHEMA.extend({"first_name": fields.UnicodeString()})}
    )

    def run(self, request):
        response = super().run(request)
        response["user"]["first_name"] = response["user"]["name"].split()[0]
        return response


class GetUserAction(SwitchedAction):
    switch_to_action_map = (
        (USER_VERSION_2_ENABLED, GetUserActionV2),
        (SwitchedAction.DEFAULT_ACTION, GetUserActionV1),
    )


class CreateUserAction(Action):
    """Create a user; its team must have room (the team service says)."""

    request_schema = fields.Dictionary(
        {
            "name": fields.UnicodeString(min_length=1, max_length=50, allow_blank=False),
            "email": fields.EmailAddress(),
            "team_id": fields.Integer(),
            "roles": fields.List(fields.Constant("admin", "member"), min_length=1),
            "preferences": fields.SchemalessDictionary(
                key_type=fields.UnicodeString(), value_type=fields.Boolean()
            ),
            "login": fields.Polymorph(
                "method",
                {
                    "password": fields.Dictionary(
                        {
                            "method": fields.Constant("password"),
                            "password": fields.UnicodeString(min_length=8),
                        }
                    ),
                    "sso": fields.Dictionary(
                        {"method": fields.Constant("sso"), "provider": fields.UnicodeString()}
                    ),
                },
            ),
        },
        optional_keys=("preferences", "login"),
    )
    response_schema = fields.Dictionary({"id": fields.Integer()})

    def validate(self, request):
        if request.body["email"].endswith("@example.org"):
            raise ActionError(
                errors=[Error(code="INVALID", message="Domain not allowed", field="email")]
            )

    def run(self, request):
        team = request.client.call_action(
            "team", "get_team", {"team_id": request.body["team_id"]}
        ).body
        if team["members"] >= team["capacity"]:
            raise ActionError(errors=[Error(code="TEAM_FULL", message="The team is full")])
        new_id = max(USERS) + 1
        USERS[new_id] = {
            "id": new_id,
            "name": request.body["name"],
            "email": request.body["email"],
            "team_id": request.body["team_id"],
        }
        return {"id": new_id}
