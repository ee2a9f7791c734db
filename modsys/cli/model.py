"""The toxicity model."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from modsys.cli.base import community_of, community_option, fail, main, open_db
from modsys.config import load_settings


def scorer_or_fail(settings, name: str):
    from modsys.toxicity import get_scorer, scorer_unavailable_reason

    scorer = get_scorer(settings.model_dir, name)
    if scorer is None:
        fail(f"{name}: no usable model: {scorer_unavailable_reason(settings.model_dir, name)}")
    return scorer


def policy_model(session, settings) -> str:
    """The model the default (or only) community's policy names."""
    from modsys.community import default_community, policy_for
    from modsys.errors import DomainError

    try:
        return policy_for(session, default_community(session).id).toxicity.model
    except DomainError:
        return policy_for(session, community_of(session, settings).id).toxicity.model


@main.group()
def model() -> None:
    """The toxicity model: install, fetch, status, re-score, calibrate."""


@model.command("install")
@click.option("--checkpoint", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="detoxify's .ckpt file")
@click.option("--config-dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="the Hugging Face config and tokenizer files it was trained with")
@click.option("--model", "name", default="original", show_default=True, type=click.Choice(["original", "unbiased", "multilingual"]))
@click.option("--sha256", help="Refuse the checkpoint unless its SHA-256 is this (from where you got it).")
def model_install(checkpoint: Path, config_dir: Path, name: str, sha256: str | None) -> None:
    """Install a checkpoint and its Hugging Face config directory brought in by hand."""
    from modsys.toxicity import ModelError, install_model

    settings = load_settings()
    try:
        info = install_model(checkpoint, config_dir, settings.model_dir, name, expected_sha256=sha256)
    except ModelError as e:
        fail(str(e))
    click.echo(f"installed {info.name} into {settings.model_dir}: sha256 {info.sha256}, labels {', '.join(info.labels)}")


@model.command("fetch")
@click.option("--model", "name", default="original", show_default=True, type=click.Choice(["original", "unbiased", "multilingual"]))
def model_fetch(name: str) -> None:
    """Download detoxify's checkpoint and tokenizer (needs internet; e.g. at image build)."""
    from modsys.toxicity import ModelError, fetch_model

    settings = load_settings()
    try:
        info = fetch_model(settings.model_dir, name)
    except ModelError as e:
        fail(str(e))
    click.echo(f"fetched {info.name} into {settings.model_dir}: sha256 {info.sha256}")


@model.command("status")
def model_status() -> None:
    """Which model the policy asks for, and whether it loads."""
    settings = load_settings()
    _, session = open_db(settings)
    name = policy_model(session, settings)
    scorer = scorer_or_fail(settings, name)
    click.echo(f"{name}: loaded (sha256 {scorer.info.sha256}, detoxify {scorer.info.package_version}, "
               f"{len(scorer.info.labels)} labels)")


@model.command("rescore")
@click.option("--since", required=True, type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M"]),
              help="Re-score flags reported since this date (UTC).")
@click.option("--batch", default=32, show_default=True)
def model_rescore(since, batch: int) -> None:
    """Score flags again after the model or the thresholds changed."""
    from datetime import UTC

    from modsys import scoring

    settings = load_settings()
    engine, session = open_db(settings)
    name = policy_model(session, settings)
    scorer = scorer_or_fail(settings, name)
    total = scoring.reset_for_rescore(engine, since.replace(tzinfo=UTC))
    owner = scoring.worker_id()
    with click.progressbar(length=total, label=f"re-scoring {total} flags", file=sys.stderr) as bar:
        while done := scoring.score_batch(engine, scorer, name, owner, batch):
            bar.update(done)
    click.echo(f"re-scored {total} flags with {name} ({scorer.info.sha256[:12]}…)")


@model.command("calibrate")
@click.option("--target-precision", default=0.9, show_default=True, type=click.FloatRange(0.01, 1.0))
@community_option
def model_calibrate(target_precision: float, community_slug: str | None) -> None:
    """Precision and recall of the thresholds against moderators' decisions."""
    from modsys.calibration import calibrate
    from modsys.community import policy_for

    settings = load_settings()
    _, session = open_db(settings)
    community = community_of(session, settings, community_slug)
    report = calibrate(session, community.id, policy_for(session, community.id), target_precision)
    click.echo(f"{report.decided} decided flags with scores ({report.actioned} actioned); "
               f"target precision {report.target_precision:.2f}")
    fmt = lambda v: "  -  " if v is None else f"{v:.3f}"  # noqa: E731
    click.echo(f"{'label':<16} {'threshold':>9} {'precision':>9} {'recall':>7} {'suggested':>9} {'recall':>7}")
    for r in report.labels:
        click.echo(f"{r.label:<16} {fmt(r.threshold):>9} {fmt(r.precision):>9} {fmt(r.recall):>7} "
                   f"{fmt(r.suggested):>9} {fmt(r.suggested_recall):>7}")
