from pysoa.server.standalone import simple_main


def main():
    from user_service.server import UserServer

    simple_main(lambda: UserServer)


if __name__ == "__main__":
    main()
