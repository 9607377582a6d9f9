from codequarry import operation


@operation("typo.op", version=1, inputs=["funtions"], outputs=["typo_out"])
def op(ctx):  # type: ignore[no-untyped-def]
    return ctx.table("funtions")
