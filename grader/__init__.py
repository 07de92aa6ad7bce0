"""resnet-kata: the grader, its catalogue and its command line."""

__version__ = "0.1.0"
