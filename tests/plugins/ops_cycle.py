from codequarry import operation


@operation("cyc.a", version=1, inputs=["b_out"], outputs=["a_out"])
def a(ctx):  # type: ignore[no-untyped-def]
    return ctx.table("b_out")


@operation("cyc.b", version=1, inputs=["a_out"], outputs=["b_out"])
def b(ctx):  # type: ignore[no-untyped-def]
    return ctx.table("a_out")
