from codequarry import operation


@operation("fail.op", version=1, inputs=["functions"], outputs=["never"])
def op(ctx):  # type: ignore[no-untyped-def]
    raise ZeroDivisionError("division by zero in a plugin")
