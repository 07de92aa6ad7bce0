"""Checks for 09_finetune_freezing: the learner's code on the kit's pretrained backbone."""

from pathlib import Path

from resnet_kata.checks.finetune import FinetuneSpec, finetune_checks

SPEC = FinetuneSpec(folder=Path(__file__).resolve().parent)


def checks(framework: str):
    return finetune_checks(SPEC)
