def hello(name):
    """Say hello."""
    return f"hello {name}"


async def later(name):
    return hello(name)
