"""Duplicate control's quality on labelled data: precision and recall of the full scan.

Our labelled set: people drawn from the demo vocabulary, entered through contact_create, with
duplicates entered the way they arrive in a real base — the phone in another format (8 …, +7 …,
(495) …), the e-mail in other case or with Gmail dots, the name transliterated (Иванов/Ivanov),
in swapped order, with a typo or without the middle name — and hard negatives: namesakes with
another phone, e-mail and birthday. Then splink's fake_1000 (1,000 person records in 251 true
clusters, heavily corrupted) through the same scoring in memory. Pairwise precision/recall:
a pair is predicted when the scan puts both records in one group."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pytest

from factories import report_figures, system
from voronka.contacts.dedup import contact_keys, find_groups
from voronka.contacts.keys import address_key
from voronka.contacts.matching import Profile, scan_profiles
from voronka.contacts.models import ClientEntity, KeyKind
from voronka.contacts.services import contact_create
from voronka.demo.duplicates import labelled_set

FAKE_1000 = (
    Path(__file__).resolve().parents[3] / "shared/fixtures/entity_resolution/splink_datasets"
)


def pairwise(predicted: list[list[int]], truth: dict[int, Any]) -> tuple[float, float, int, int]:
    pred = {pair for ids in predicted for pair in itertools.combinations(sorted(ids), 2)}
    clusters: dict[Any, list[int]] = {}
    for object_id, cluster in truth.items():
        clusters.setdefault(cluster, []).append(object_id)
    true = {pair for ids in clusters.values() for pair in itertools.combinations(sorted(ids), 2)}
    hit = len(pred & true)
    return hit / max(1, len(pred)), hit / max(1, len(true)), len(pred), len(true)


@pytest.mark.django_db
def test_scan_finds_the_labelled_duplicates(org: Any) -> None:
    actor = system()
    truth: dict[int, int] = {}
    for data, cluster in labelled_set():
        contact = contact_create(
            actor=actor, data={**data, "responsible": org.personas["owner"].user.pk}
        )
        truth[contact.pk] = cluster
    groups = find_groups(ClientEntity.CONTACT)
    precision, recall, predicted, true = pairwise([g.ids for g in groups], truth)
    report_figures(
        f"dedup labelled set: {len(truth)} contacts, {true} true pairs, {predicted} predicted: "
        f"precision {precision:.3f}, recall {recall:.3f}"
    )
    assert precision >= 0.95
    assert recall >= 0.95


def test_scan_on_splink_fake_1000() -> None:
    """fake_1000 is corrupted on purpose (typos in every field, missing names, birthdays off
    by a month or a decade): the figure is printed; precision must stay high — a merge
    suggestion a person rejects costs more than one the scan misses."""
    if not (FAKE_1000 / "fake_1000.csv").exists():
        pytest.skip("../shared/fixtures is not on this machine")
    with open(FAKE_1000 / "fake_1000.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    keys_of: dict[int, list[tuple[str, str]]] = {}
    truth: dict[int, str] = {}
    for row in rows:
        object_id = int(row["unique_id"])
        keys = contact_keys(
            last_name=row["surname"],
            first_name=row["first_name"],
            birthday=dt.date.fromisoformat(row["dob"]) if row["dob"] else None,
            emails=[row["email"]] if row["email"] else [],
        )
        if row["city"]:
            keys.append((KeyKind.ADDRESS, address_key(row["city"])))
        keys_of[object_id] = keys
        truth[object_id] = row["cluster"]
    profiles = [Profile.of(i, keys) for i, keys in keys_of.items()]
    groups = scan_profiles(profiles, keys_of)
    precision, recall, predicted, true = pairwise([g.ids for g in groups], truth)
    report_figures(
        f"dedup fake_1000: {true} true pairs, {predicted} predicted: "
        f"precision {precision:.3f}, recall {recall:.3f}"
    )
    assert precision >= 0.95
    assert (
        recall >= 0.75
    )  # printed against the 0.95: see docs/decisions/0023-duplicate-control.md
