from pysoa.server.server import Server

from user_service.actions import CreateUserAction, GetUserAction


class UserServer(Server):
    service_name = "user"
    action_class_map = {
        "get_user": GetUserAction,
        "create_user": CreateUserAction,
    }
