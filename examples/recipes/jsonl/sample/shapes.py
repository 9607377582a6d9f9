"""Shapes, for the example recipe."""


class Circle:
    """A circle."""

    def __init__(self, r):
        self.r = r

    def area(self):
        return 3.14159 * self.r ** 2


def unit():
    return Circle(1)
