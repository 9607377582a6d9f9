from codequarry import operation


@operation("dup.op", version=1, inputs=["classes"], outputs=["functions"])
def op(ctx):  # type: ignore[no-untyped-def]
    return ctx.table("classes")
