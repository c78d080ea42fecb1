"""What the bench scripts share."""


def alternating(repeat: int, quiet, loaded) -> tuple[list[float], list[float]]:
    """Runs `quiet()` and `loaded()` `repeat` times each and returns their timings. A collection
    grows with every sync, so the order alternates: neither kind is always measured on the larger
    collection."""
    quiet_times, loaded_times = [], []
    for i in range(repeat):
        if i % 2 == 0:
            quiet_times.append(quiet())
            loaded_times.append(loaded())
        else:
            loaded_times.append(loaded())
            quiet_times.append(quiet())
    return quiet_times, loaded_times


def uploaded_client(helpers, root, srv, user: str):
    """A real-client profile of `user` that has uploaded a 10-note collection to `srv`."""
    client = helpers.Client(root / "clients", user)
    client.login(srv, user)
    helpers.add_basic_notes(client.col, 10, notetype="Basic")
    client.required()
    client.upload()
    return client
